// mobiquant outliers: writes a function-preserving copy of a plain model whose linears see the
// activation outliers of large LLMs (runtime/outlier_transform.hpp), a hard testbed for low bits.
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "runtime/outlier_transform.hpp"

namespace {

struct Options {
    std::string in, out;
    mq::rt::OutlierOptions transform;
};

int run(const Options& o) {
    auto channels = mq::rt::write_outlier_model(o.in, o.out, o.transform);
    std::printf("%s: channels", o.out.c_str());
    for (uint32_t c : channels) std::printf(" %u", c);
    std::printf(" of every attention and feed-forward norm x%g, their readers' columns / %g\n",
                o.transform.factor, o.transform.factor);
    return 0;
}

mq::cli::Registration reg{
    "outliers", "Write a copy of a plain model with LLM-like activation outliers (same function)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        cmd.add_option("-m,--model", o->in, "Plain GGUF model to transform")->required();
        cmd.add_option("-o,--output", o->out, "GGUF file to write")->required();
        cmd.add_option("--channels", o->transform.channels,
                       "Outlier channels (the same in every layer)")
            ->capture_default_str();
        cmd.add_option("--factor", o->transform.factor,
                       "How much larger the outlier channels become (a power of two keeps the "
                       "weights exact)")
            ->capture_default_str();
        return [o] { return run(*o); };
    }};

}  // namespace
