#pragma once
// Everything that defines a tokenizer, as plain data. It is filled from a GGUF file's
// tokenizer.* metadata (the keys llama.cpp writes and reads), from a Hugging Face
// tokenizer.json (+ tokenizer_config.json), or from a SentencePiece .model file, and is turned
// into a working tokenizer by mq::tok::Tokenizer.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mq::gguf {
class File;
class Writer;
}  // namespace mq::gguf

namespace mq::tok {

// llama.cpp's token types (the values stored in tokenizer.ggml.token_type).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,      // <s>, </s>, <|eot_id|>: never produced from text unless special parsing
    UserDefined = 4,  // added tokens: always matched as a whole in the text
    Unused = 5,
    Byte = 6,  // <0x0A>: byte fallback of SentencePiece vocabularies
};

struct TokenizerSpec {
    // "llama": SentencePiece BPE (merge the pair whose merged piece has the highest score, space
    // written as U+2581, dummy-prefix space, byte fallback to <0xXX> tokens).
    // "gpt2": byte-level BPE (bytes mapped to printable characters, merges by rank).
    std::string model = "llama";
    // Byte-level BPE pre-tokenizer: "default", "gpt2", "llama3" or "qwen2" (llama.cpp's names
    // "gpt-2", "llama-bpe", "smollm" are accepted too). Ignored for "llama".
    std::string pre = "default";
    // Explicit split patterns (from a tokenizer.json); when empty the ones of `pre` are used.
    std::vector<std::string> pre_patterns;

    std::vector<std::string> tokens;
    std::vector<float> scores;     // "llama": merge priority; empty = all 0
    std::vector<TokenType> types;  // empty = Normal (and Byte for <0xXX> in "llama")
    // Merge rules in priority order (rank = index). "gpt2" needs them; for "llama" they are
    // optional and, when present, replace the scores (a Hugging Face BPE with byte_fallback).
    std::vector<std::pair<std::string, std::string>> merges;

    int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
    int32_t eot_id = -1, eom_id = -1;  // end of turn / end of message, when the model has them
    bool add_bos = false;
    bool add_eos = false;
    // "llama": add the SentencePiece dummy-prefix space before the text (and, as llama.cpp
    // does, after each special token). "gpt2": Hugging Face ByteLevel add_prefix_space.
    bool add_space_prefix = false;
    // SentencePiece normalizer option: drop leading/trailing spaces, collapse runs of spaces.
    bool remove_extra_whitespaces = false;
    // Byte-level BPE: a word that is already a token is not merged (Llama 3's tokenizer).
    bool ignore_merges = false;
    // Unicode normalization applied to text before tokenizing: "" (none) or "nfc".
    std::string normalizer;

    std::string chat_template;  // tokenizer.chat_template, verbatim (may be empty)

    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    TokenType type(int32_t id) const;           // with the defaults described above
    int32_t find(std::string_view text) const;  // linear search: for setup code, -1 when absent
};

// From GGUF metadata: tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,bos_token_id,
// eos_token_id,unknown_token_id,padding_token_id,eot_token_id,eom_token_id,add_bos_token,
// add_eos_token,add_space_prefix,remove_extra_whitespaces} and tokenizer.chat_template.
// Missing optional keys get llama.cpp's defaults. Throws mq::Error naming the key.
TokenizerSpec spec_from_gguf(const gguf::File& file);
// Writes the same keys (for our own checkpoints and for tests).
void write_gguf_metadata(gguf::Writer& writer, const TokenizerSpec& spec);

// From a Hugging Face tokenizer.json text and (optionally, may be empty) tokenizer_config.json.
TokenizerSpec spec_from_hf_json(std::string_view tokenizer_json, std::string_view config_json = {});
// From a Hugging Face model directory (tokenizer.json, tokenizer_config.json if present).
TokenizerSpec spec_from_hf_dir(const std::filesystem::path& dir);
// From a SentencePiece ModelProto (.model file bytes). BPE models only.
TokenizerSpec spec_from_sentencepiece(std::span<const std::byte> model_proto,
                                      std::string_view name = "<memory>");

// Any of the above by path: a .gguf file, a Hugging Face directory (or its tokenizer.json), or a
// SentencePiece .model file.
TokenizerSpec load_tokenizer_spec(const std::filesystem::path& path);

// SentencePiece-style scores from merge ranks: a token made by merge rank r scores -r (the first
// merge that makes it), tokens no merge makes score -1e9. Lets a merges-only vocabulary be
// stored the way GGUF "llama" vocabularies are.
std::vector<float> scores_from_merges(const TokenizerSpec& spec);

}  // namespace mq::tok
