// Picks the right reader for a tokenizer path: GGUF file, Hugging Face directory or
// tokenizer.json, or SentencePiece .model.
#include <fstream>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/spec.hpp"

namespace mq::tok {

namespace fs = std::filesystem;

TokenizerSpec load_tokenizer_spec(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return spec_from_hf_dir(path);
    if (!fs::exists(path, ec)) fail("{}: no such file or directory", path.string());
    if (path.filename() == "tokenizer.json") return spec_from_hf_dir(path.parent_path());

    std::ifstream in(path, std::ios::binary);
    if (!in) fail("{}: cannot open", path.string());
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() == 4 && std::string_view(magic, 4) == "GGUF")
        return spec_from_gguf(gguf::File::open(path));
    // Anything else is taken for a SentencePiece ModelProto.
    in.clear();
    in.seekg(0, std::ios::end);
    const auto size = static_cast<size_t>(in.tellg());
    if (size > (size_t{1} << 30)) fail("{}: too large for a SentencePiece model", path.string());
    std::vector<std::byte> bytes(size);
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    return spec_from_sentencepiece(bytes, path.string());
}

}  // namespace mq::tok
