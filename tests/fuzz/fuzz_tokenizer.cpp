// libFuzzer target for the tokenizers. The first input byte picks what to exercise; the rest is
// the payload:
//   0: encode arbitrary bytes (any UTF-8, well-formed or not) with a built-in SentencePiece-style
//      and a byte-level vocabulary, with and without special-token parsing; decoding must give
//      the bytes back exactly (ill-formed UTF-8 goes through byte fallback / the byte alphabet)
//   1: decode arbitrary ids (in range or not) in one go and through the streaming decoder, which
//      must only ever emit well-formed UTF-8
//   2: parse the payload as a SentencePiece .model and, if it loads, tokenize with it
//   3: parse the payload as a Hugging Face tokenizer.json and, if it loads, tokenize with it
// Refusals are mq::Error; anything else (a crash, a sanitizer report, an abort) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

using namespace mq::tok;

namespace {
TokenizerSpec small_spm() {
    TokenizerSpec s;
    s.model = "llama";
    s.tokens = {"<unk>", "<s>", "</s>"};
    s.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        s.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        s.types.push_back(TokenType::Byte);
    }
    for (const char* p : {"\xE2\x96\x81", "a", "b",
                          "\xE2\x96\x81"
                          "a",
                          "ab",
                          "\xE2\x96\x81"
                          "ab",
                          "\xC3\xA9", "\xE2\x96\x81\xE2\x96\x81", "x", "xx", "xxx"}) {
        s.tokens.push_back(p);
        s.types.push_back(TokenType::Normal);
    }
    s.tokens.push_back("<u>");
    s.types.push_back(TokenType::UserDefined);
    s.tokens.push_back("xxxx");
    s.types.push_back(TokenType::Unused);  // re-split into the pieces it was merged from
    s.scores.assign(s.tokens.size(), 0.0f);
    for (size_t i = 259; i < s.tokens.size(); ++i) s.scores[i] = -static_cast<float>(i);
    s.unk_id = 0;
    s.bos_id = 1;
    s.eos_id = 2;
    s.add_bos = true;
    s.add_space_prefix = true;
    return s;
}

TokenizerSpec small_byte_level() {
    TokenizerSpec s;
    s.model = "gpt2";
    s.pre = "llama3";
    s.ignore_merges = true;
    for (int b = 0; b < 256; ++b) s.tokens.push_back(byte_to_unicode()[b]);
    for (const char* m : {"he", "ll", "hell", "hello", "\xC4\xA0t", "\xC4\xA0the"})
        s.tokens.push_back(m);
    s.merges = {{"h", "e"},    {"l", "l"},        {"he", "ll"},
                {"hell", "o"}, {"\xC4\xA0", "t"}, {"\xC4\xA0t", "he"}};
    s.tokens.push_back("<|eot|>");
    s.types.assign(s.tokens.size(), TokenType::Normal);
    s.types.back() = TokenType::Control;
    s.eos_id = static_cast<int32_t>(s.tokens.size()) - 1;
    return s;
}

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
        std::abort();
    }
}

void exercise(const Tokenizer& t, std::string_view text) {
    for (bool parse : {false, true}) {
        const auto ids = t.encode(text, {.add_special = true, .parse_special = parse});
        StreamDecoder stream(t, {.skip_special = false});
        std::string streamed;
        for (int32_t id : ids) {
            require(id >= 0 && id < t.n_vocab(), "encode produced an id outside the vocabulary");
            const std::string part = stream.push(id);
            require(utf8_sanitize(part) == part, "streaming decoder emitted ill-formed UTF-8");
            streamed += part;
        }
        streamed += stream.flush();
        require(streamed == utf8_sanitize(t.decode(ids, {.skip_special = false})),
                "streamed text differs from decode()");
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Tokenizer spm(small_spm());
    static const Tokenizer bbpe(small_byte_level());
    if (size == 0) return 0;
    const uint8_t mode = data[0] % 4;
    const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        switch (mode) {
            case 0: {
                exercise(spm, payload);
                exercise(bbpe, payload);
                // Lossless: without special parsing, decoding gives the input back.
                const EncodeOptions plain{.add_special = false, .parse_special = false};
                require(bbpe.decode(bbpe.encode(payload, plain)) == payload,
                        "byte-level round trip lost bytes");
                if (payload.find("\xE2\x96\x81") == std::string_view::npos)
                    require(spm.decode(spm.encode(payload, plain)) == payload,
                            "SentencePiece round trip lost bytes");
                break;
            }
            case 1: {
                for (const Tokenizer* t : {&spm, &bbpe}) {
                    std::vector<int32_t> ids;
                    for (size_t i = 0; i + 1 < payload.size(); i += 2)
                        ids.push_back(
                            static_cast<int32_t>((static_cast<uint8_t>(payload[i]) |
                                                  (static_cast<uint8_t>(payload[i + 1]) << 8)) %
                                                 (t->n_vocab() + 8)));
                    bool in_range = true;
                    for (int32_t id : ids) in_range = in_range && id < t->n_vocab();
                    try {
                        (void)t->decode(ids);
                        require(in_range, "decode accepted an id outside the vocabulary");
                    } catch (const mq::Error&) {
                        require(!in_range, "decode refused valid ids");
                    }
                    StreamDecoder stream(*t);
                    for (int32_t id : ids) {
                        if (id >= t->n_vocab()) continue;
                        const std::string part = stream.push(id);
                        require(utf8_sanitize(part) == part, "stream emitted ill-formed UTF-8");
                    }
                    const std::string rest = stream.flush();
                    require(utf8_sanitize(rest) == rest, "flush emitted ill-formed UTF-8");
                }
                break;
            }
            case 2: {
                const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
                const Tokenizer t(spec_from_sentencepiece(bytes, "fuzz.model"));
                exercise(t, "Hello w\xC3\xB6rld <s> 123 \xF0\x9F\xA6\x99 \xFF");
                break;
            }
            case 3: {
                const Tokenizer t(spec_from_hf_json(payload));
                exercise(t, "Hello w\xC3\xB6rld <s> 123 \xF0\x9F\xA6\x99 \xFF");
                break;
            }
        }
    } catch (const mq::Error&) {
        // A refusal with a message is the documented outcome for bad input.
    }
    return 0;
}
