// mq_write_tiny_models --hash FILE: prints the FNV-1a hash the fixtures record for FILE.
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
    if (argc != 2 && !(argc == 3 && std::string(argv[1]) == "--hash")) {
        std::fprintf(stderr, "usage: %s OUTDIR | --hash FILE\n", argv[0]);
        return 2;
    }
    auto hash_file = [](const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) mq::fail("cannot open {}", path.string());
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
        return fmt::format("{:016x}", mq::test::fnv1a64(std::as_bytes(std::span(bytes))));
    };
    try {
        if (argc == 3) {
            fmt::print("{}\n", hash_file(argv[2]));
            return 0;
        }
        const std::filesystem::path dir = argv[1];
        for (const auto& m : mq::test::fixture_models()) {
            const auto path = mq::test::write_tiny_model(m.spec, dir);
            nlohmann::json extra = {{"name", m.name},
                                    {"spec", mq::test::spec_to_json(m.spec)},
                                    {"gguf_fnv1a64", hash_file(path)},
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
