#pragma once
// The malformed-file corpus (tests/formats/malformed/, written by generate.py): each file with
// the text its mq::Error must contain. Shared by the doctest suite and formats_asan_check.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/model_loader.hpp"
#include "formats/safetensors.hpp"

namespace corpus {

struct Entry {
    std::string file, expect;
};

inline std::vector<Entry> read_manifest(const std::filesystem::path& dir) {
    std::ifstream in(dir / "MANIFEST.tsv");
    if (!in) mq::fail("cannot read {}", (dir / "MANIFEST.tsv").string());
    std::vector<Entry> entries;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        size_t tab = line.find('\t');
        if (tab == std::string::npos) mq::fail("MANIFEST.tsv: no tab in '{}'", line);
        entries.push_back({line.substr(0, tab), line.substr(tab + 1)});
    }
    return entries;
}

// Opens the file with the reader its name calls for (gguf_*, st_*, model_*) and reads every
// tensor, so a file that gets past validation is still read to the end.
inline void load_fully(const std::filesystem::path& path) {
    std::string name = path.filename().string();
    if (name.rfind("st_", 0) == 0) {
        auto f = mq::safetensors::File::open(path);
        for (const auto& t : f.tensors()) f.tensor_to_f32(t);
    } else if (name.rfind("model_", 0) == 0) {
        auto m = mq::LoadedModel::open(path);
        for (const auto& t : m.tensors()) m.to_f32(t);
    } else {
        auto f = mq::gguf::File::open(path);
        for (const auto& t : f.tensors())
            if (mq::gguf::can_dequantize(t.type)) f.tensor_to_f32(t);
    }
}

}  // namespace corpus
