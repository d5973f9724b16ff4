#pragma once
// Small hand-made vocabularies whose tokenizations can be worked out by hand.
#include <string>
#include <vector>

#include "tokenizer/spec.hpp"
#include "tokenizer/unicode.hpp"

namespace mq::tok::test {

// SentencePiece-style: <unk> <s> </s>, 256 byte tokens, then scored pieces.
inline TokenizerSpec toy_spm() {
    TokenizerSpec s;
    s.model = "llama";
    s.tokens = {"<unk>", "<s>", "</s>"};
    s.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
    s.scores = {0, 0, 0};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        s.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        s.types.push_back(TokenType::Byte);
        s.scores.push_back(0);
    }
    const std::pair<const char*, float> pieces[] = {{"\xE2\x96\x81", 0},
                                                    {"a", 0},
                                                    {"b", 0},
                                                    {"c", 0},
                                                    {"\xE2\x96\x81"
                                                     "a",
                                                     -5},
                                                    {"ab", -2},
                                                    {"bc", -1},
                                                    {"abc", -3},
                                                    {"bb", -1},
                                                    {"h", 0},
                                                    {"i", 0},
                                                    {"\xE2\x96\x81"
                                                     "h",
                                                     -4},
                                                    {"\xE2\x96\x81"
                                                     "hi",
                                                     -6},
                                                    {"<", 0},
                                                    {"s", 0},
                                                    {">", 0}};
    for (auto [text, score] : pieces) {
        s.tokens.push_back(text);
        s.types.push_back(TokenType::Normal);
        s.scores.push_back(score);
    }
    s.tokens.push_back("<tool>");
    s.types.push_back(TokenType::UserDefined);
    s.scores.push_back(0);
    s.unk_id = 0;
    s.bos_id = 1;
    s.eos_id = 2;
    s.add_bos = true;
    s.add_space_prefix = true;
    return s;
}

// Byte-level: the 256 byte characters in byte order, a few merges, one control token.
inline TokenizerSpec toy_byte_level() {
    TokenizerSpec s;
    s.model = "gpt2";
    s.pre = "gpt2";
    for (int b = 0; b < 256; ++b) s.tokens.push_back(byte_to_unicode()[b]);
    const char* merged[] = {"he", "ll", "hell", "hello", "\xC4\xA0t", "\xC4\xA0the", "xyz"};
    for (const char* m : merged) s.tokens.push_back(m);
    s.merges = {{"h", "e"},    {"l", "l"},        {"he", "ll"},
                {"hell", "o"}, {"\xC4\xA0", "t"}, {"\xC4\xA0t", "he"}};
    s.tokens.push_back("<|eot|>");
    s.types.assign(s.tokens.size(), TokenType::Normal);
    s.types.back() = TokenType::Control;
    s.eos_id = static_cast<int32_t>(s.tokens.size()) - 1;
    return s;
}

}  // namespace mq::tok::test
