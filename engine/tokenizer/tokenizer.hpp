#pragma once
// Text <-> token ids for the LLaMA family's two tokenizer kinds:
//  - SentencePiece BPE ("llama" vocabularies: Llama 2, TinyLlama, Mistral): the algorithm of
//    SentencePiece's bpe_model.cc (repeatedly merge the adjacent pair whose merged piece has the
//    highest score, leftmost first), spaces as U+2581, a dummy-prefix space, and byte fallback
//    to <0xXX> tokens for characters outside the vocabulary.
//  - byte-level BPE ("gpt2" vocabularies: Llama 3, Qwen 2/3, SmolLM, GPT-2): a regex
//    pre-tokenizer splits the text into words, each word's bytes are mapped to GPT-2's printable
//    alphabet and merged by merge rank, lowest rank (leftmost) first.
// Both merge with a priority queue over a linked list of symbols: O(n log n) in the text length.
//
// Special tokens: text that spells a user-defined token is always that token; with
// parse_special, text that spells a control token ("<|eot_id|>", "<s>") is that token too
// (leftmost, longest match first). Otherwise special-token text is tokenized as plain text.
//
// Bytes that are not well-formed UTF-8 are kept, never dropped or replaced: SentencePiece
// vocabularies encode them through byte fallback (<0xXX>), byte-level vocabularies through
// their byte alphabet (each maximal run of ill-formed bytes is one pre-token). Decoding gives
// the bytes back. (SentencePiece itself would turn each such byte into U+FFFD.)
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/spec.hpp"

namespace mq::tok {

struct EncodeOptions {
    bool add_special = true;     // add BOS / EOS as the vocabulary's add_bos / add_eos say
    bool parse_special = false;  // control-token text becomes the control token
    // Byte ranges [first, second) of the text where control-token text stays plain even with
    // parse_special (untrusted message contents inside a chat template's markup).
    std::vector<std::pair<size_t, size_t>> plain_ranges;
};

struct DecodeOptions {
    bool skip_special = true;  // control and unknown tokens produce no text
    // SentencePiece vocabularies with a dummy prefix: drop the space the first token starts
    // with (as SentencePiece's decoder does). Turn off when continuing a decoded prompt.
    bool strip_leading_space = true;
};

class Tokenizer {
  public:
    // Validates the spec (sizes, ids in range, merges naming known tokens); throws mq::Error.
    explicit Tokenizer(TokenizerSpec spec);
    ~Tokenizer();
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;

    std::vector<int32_t> encode(std::string_view text, EncodeOptions options = {}) const;
    // The exact bytes the ids stand for (not necessarily complete UTF-8 when the ids end in the
    // middle of a character: use StreamDecoder or utf8_sanitize for display).
    std::string decode(std::span<const int32_t> ids, DecodeOptions options = {}) const;

    int32_t n_vocab() const;
    // The vocabulary entry as stored ("▁the", "Ġthe", "<0x0A>", "<|eot_id|>").
    const std::string& token_text(int32_t id) const;
    // The bytes the token stands for (" the", "\n", "<|eot_id|>").
    const std::string& piece(int32_t id) const;
    TokenType type(int32_t id) const;
    bool is_control(int32_t id) const;  // control or unknown: hidden by skip_special
    // End of generation: EOS, end of turn, end of message, and control tokens whose text is one
    // of the common end markers (<|eot_id|>, <|im_end|>, <|endoftext|>, ...).
    bool is_end_of_generation(int32_t id) const;
    int32_t find(std::string_view token_text) const;  // id of that vocabulary entry, or -1

    int32_t bos() const;
    int32_t eos() const;
    int32_t unk() const;
    const TokenizerSpec& spec() const;

  private:
    friend class StreamDecoder;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Decodes ids one at a time for streaming output: push() returns only complete, well-formed
// UTF-8; a character split across tokens (byte-fallback tokens, or byte-level tokens that hold
// part of a character) is held back until its last byte arrives. Bytes that can never form a
// character become U+FFFD as soon as that is certain.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {});
    std::string push(int32_t id);
    std::string flush();  // end of stream: a still-incomplete character becomes U+FFFD
    void reset();
    bool pending() const { return !held_.empty(); }

  private:
    const Tokenizer* tokenizer_;
    DecodeOptions options_;
    std::string held_;
    bool at_start_ = true;
};

}  // namespace mq::tok
