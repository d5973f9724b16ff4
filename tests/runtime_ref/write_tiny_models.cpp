// mq_write_tiny_models OUTDIR: writes the fixture models (fixture_models.hpp) and, next to each,
// <name>.extra.json with its name, spec, ids and file hash. tools/check/make_fixtures.sh runs
// the torch oracle on them to regenerate tests/runtime_ref/fixtures/.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "core/error.hpp"
#include "fixture_models.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        for (const auto& m : mq::test::fixture_models()) {
            const auto path = mq::test::write_tiny_model(m.spec, dir);
            std::ifstream in(path, std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
            const uint64_t hash = mq::test::fnv1a64(std::as_bytes(std::span(bytes)));
            nlohmann::json extra = {{"name", m.name},
                                    {"spec", mq::test::spec_to_json(m.spec)},
                                    {"gguf_fnv1a64", fmt::format("{:016x}", hash)},
                                    {"ids", mq::test::fixture_ids()}};
            std::ofstream(dir / (m.name + ".extra.json")) << extra.dump(1) << "\n";
            fmt::print("{} {}\n", m.name, path.string());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
