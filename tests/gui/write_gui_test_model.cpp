// Writes the small random LLaMA-family model the GUI test chats with and prints its path.
#include <cstdio>
#include <exception>

#include "support/tiny_model.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        mq::test::TinyModelSpec spec;
        spec.n_layers = 6;  // enough rows for the routing heatmap and the tooltip grid
        spec.context = 512;
        std::printf("%s\n", mq::test::write_tiny_model(spec, argv[1]).c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
