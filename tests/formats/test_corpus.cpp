// Every file of the malformed corpus gives an mq::Error that names its problem.
#include <doctest/doctest.h>

#include <set>

#include "corpus.hpp"

namespace fs = std::filesystem;

TEST_CASE("malformed files: each gives an mq::Error naming the problem, never a crash") {
    const fs::path dir = fs::path(MQ_SOURCE_DIR) / "tests/formats/malformed";
    std::vector<corpus::Entry> entries = corpus::read_manifest(dir);
    CHECK(entries.size() >= 50);
    std::set<std::string> listed;
    for (const corpus::Entry& e : entries) {
        CAPTURE(e.file);
        listed.insert(e.file);
        CHECK_THROWS_WITH_AS(corpus::load_fully(dir / e.file), doctest::Contains(e.expect.c_str()),
                             mq::Error);
    }
    // No file in the folder escapes the manifest.
    for (const auto& f : fs::directory_iterator(dir)) {
        std::string name = f.path().filename().string();
        if (name.ends_with(".gguf") || name.ends_with(".safetensors"))
            CHECK(listed.count(name) == 1);
    }
}

TEST_CASE("malformed files: the fuzz seeds written beside them are valid") {
    const fs::path seeds = fs::path(MQ_SOURCE_DIR) / "tests/fuzz/seeds";
    auto g = mq::gguf::File::open(seeds / "gguf/valid.gguf");
    CHECK(g.get_string_array("general.tags") == std::vector<std::string>{"a", "ü"});
    REQUIRE(g.find_tensor("b"));
    std::vector<float> b = g.tensor_to_f32(*g.find_tensor("b"));  // Q8_0, d = 1.0, qs = 0..31
    for (int i = 0; i < 32; ++i) CHECK(b[i] == static_cast<float>(i));
    auto s = mq::safetensors::File::open(seeds / "safetensors/valid.safetensors");
    CHECK(s.metadata().at("format") == "pt");
    CHECK(s.tensor_to_f32(*s.find_tensor("w")) == std::vector<float>{1, 2, 3, 4});
    CHECK(s.tensor_to_f32(*s.find_tensor("b")) == std::vector<float>{1, 2});
}
