// Unit tests on small hand-made vocabularies: the merge order of both BPE kinds, byte
// fallback, special tokens, ill-formed UTF-8, streaming decode, and the loaders' errors.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "oracle_support.hpp"
#include "support/fixtures.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"
#include "toy_vocab.hpp"

using namespace mq::tok;
using namespace mq::tok::test;
using Ids = std::vector<int32_t>;

namespace {
const EncodeOptions kPlain{.add_special = false, .parse_special = false};

std::string run_command(const std::string& cmd, int* status) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    *status = pclose(p);
    return out;
}
}  // namespace

TEST_CASE("tok: SentencePiece BPE merges the highest-scoring pair first, leftmost on ties") {
    const Tokenizer t(toy_spm());
    const int32_t sp = t.find("\xE2\x96\x81"), a = t.find("a"), b = t.find("b"), bb = t.find("bb"),
                  abc = t.find("abc");
    // "▁abc": bc (-1) beats ab (-2) and ▁a (-5); then abc (-3) beats ▁a (-5).
    CHECK(t.encode("abc", kPlain) == Ids{sp, abc});
    // "▁bbb": two equal "bb" candidates: the left one merges.
    CHECK(t.encode("bbb", kPlain) == Ids{sp, bb, b});
    CHECK(t.encode("hi", kPlain) == Ids{t.find("\xE2\x96\x81hi")});
    CHECK(t.encode("a", kPlain) == Ids{t.find("\xE2\x96\x81"
                                              "a")});
    CHECK(t.encode(" a", kPlain) == Ids{sp, t.find("\xE2\x96\x81"
                                                   "a")});
    CHECK(t.encode("", kPlain).empty());
    CHECK(t.encode("") == Ids{1});  // BOS only, as SentencePiece-based tokenizers do
    (void)a;
}

TEST_CASE("tok: SentencePiece byte fallback, BOS/EOS rules and special-token text") {
    TokenizerSpec spec = toy_spm();
    const Tokenizer t(spec);
    const int32_t sp = t.find("\xE2\x96\x81");
    // "é" is not in the vocabulary: its UTF-8 bytes become <0xC3> <0xA9>.
    CHECK(t.encode("\xC3\xA9", kPlain) == Ids{sp, 3 + 0xC3, 3 + 0xA9});
    CHECK(t.decode(Ids{sp, 3 + 0xC3, 3 + 0xA9}) == "\xC3\xA9");
    CHECK(t.encode("hi") == Ids{1, t.find("\xE2\x96\x81hi")});
    spec.add_eos = true;
    CHECK(Tokenizer(spec).encode("hi") == Ids{1, t.find("\xE2\x96\x81hi"), 2});
    // Control-token text is only a control token when asked for.
    CHECK(t.encode("<s>hi", {.add_special = false, .parse_special = true}) ==
          Ids{1, t.find("\xE2\x96\x81hi")});
    CHECK(t.encode("<s>", kPlain) == Ids{sp, t.find("<"), t.find("s"), t.find(">")});
    // A user-defined piece is always whole and never merged with its neighbours.
    CHECK(t.encode("a<tool>b", kPlain) == Ids{t.find("\xE2\x96\x81"
                                                     "a"),
                                              t.find("<tool>"), t.find("b")});
    // Decoding hides control tokens and drops the dummy-prefix space.
    CHECK(t.decode(Ids{1, t.find("\xE2\x96\x81hi"), 2}) == "hi");
    CHECK(t.decode(Ids{1, t.find("\xE2\x96\x81hi"), 2}, {.skip_special = false}) == "<s>hi</s>");
    CHECK(t.decode(Ids{t.find("\xE2\x96\x81hi")}, {.strip_leading_space = false}) == " hi");
    CHECK_THROWS_AS(t.decode(Ids{99999}), mq::Error);
}

TEST_CASE("tok: SentencePiece remove_extra_whitespaces trims and collapses spaces") {
    TokenizerSpec spec = toy_spm();
    spec.remove_extra_whitespaces = true;
    const Tokenizer t(spec);
    const Ids expect{t.find("\xE2\x96\x81hi"), t.find("\xE2\x96\x81hi")};
    CHECK(t.encode("  hi    hi  ", kPlain) == expect);
    CHECK(t.encode("   ", kPlain).empty());
}

TEST_CASE("tok: byte-level BPE merges by rank and keeps whole words with ignore_merges") {
    TokenizerSpec spec = toy_byte_level();
    const Tokenizer t(spec);
    const int32_t the = t.find("\xC4\xA0the"), hello = t.find("hello");
    CHECK(t.encode(" the", kPlain) == Ids{the});
    CHECK(t.encode("hello", kPlain) == Ids{hello});
    CHECK(t.encode("the hello", kPlain) == Ids{'t', t.find("he"), ' ', hello});
    // "xyz" is a token no merge makes: only ignore_merges finds it.
    CHECK(t.encode("xyz", kPlain) == Ids{'x', 'y', 'z'});
    spec.ignore_merges = true;
    CHECK(Tokenizer(spec).encode("xyz", kPlain) == Ids{t.find("xyz")});
    // Special-token text.
    const int32_t eot = t.find("<|eot|>");
    CHECK(t.encode("hello<|eot|>", {.add_special = false, .parse_special = true}) ==
          Ids{hello, eot});
    CHECK(t.encode("<|eot|>", kPlain).size() == 7);
    CHECK(t.decode(Ids{hello, eot}) == "hello");
    CHECK(t.decode(Ids{hello, eot}, {.skip_special = false}) == "hello<|eot|>");
    CHECK(t.is_end_of_generation(eot));
    CHECK_FALSE(t.is_end_of_generation(hello));
}

TEST_CASE("tok: ill-formed UTF-8 is kept byte for byte by both kinds") {
    for (const TokenizerSpec& spec : {toy_spm(), toy_byte_level()}) {
        const Tokenizer t(spec);
        for (const std::string text :
             {std::string("\xFF"), std::string("a\xC3(b"), std::string("\xED\xA0\x80 x \xF4\x90"),
              std::string("ok\xE2\x82"), std::string("\x80\x80\x80")}) {
            INFO(spec.model << " " << text);
            const auto ids = t.encode(text, kPlain);
            CHECK_FALSE(ids.empty());
            CHECK(t.decode(ids) == text);
            for (int32_t id : ids) CHECK(id != t.unk());
        }
    }
}

TEST_CASE("tok: the streaming decoder holds incomplete UTF-8 until it completes") {
    const Tokenizer t(toy_spm());
    StreamDecoder d(t);
    // "🦙" = F0 9F A6 99 through four byte-fallback tokens.
    CHECK(d.push(t.find("\xE2\x96\x81hi")) == "hi");
    CHECK(d.push(3 + 0xF0) == "");
    CHECK(d.push(3 + 0x9F) == "");
    CHECK(d.push(3 + 0xA6) == "");
    CHECK(d.pending());
    CHECK(d.push(3 + 0x99) == "\xF0\x9F\xA6\x99");
    CHECK_FALSE(d.pending());
    // A byte that can never start or continue a character becomes U+FFFD at once.
    CHECK(d.push(3 + 0xFF) == "\xEF\xBF\xBD");
    // An interrupted sequence: the held bytes become one U+FFFD, the new text follows.
    CHECK(d.push(3 + 0xE2) == "");
    CHECK(d.push(t.find("a")) ==
          "\xEF\xBF\xBD"
          "a");
    CHECK(d.push(3 + 0xC3) == "");
    CHECK(d.flush() == "\xEF\xBF\xBD");
    d.reset();
    CHECK(d.push(t.find("\xE2\x96\x81hi")) == "hi");  // leading space stripped again

    const Tokenizer b(toy_byte_level());
    StreamDecoder db(b);
    CHECK(db.push(0xC3) == "");  // byte-level token for byte C3
    CHECK(db.push(0xA9) == "\xC3\xA9");
}

TEST_CASE("tok: UTF-8 helpers") {
    CHECK(utf8_char_len("\xE2\x82\xAC", 0) == 3);
    CHECK(utf8_char_len("\xE0\x80\x80", 0) == 0);  // overlong
    CHECK(utf8_char_len("\xED\xA0\x80", 0) == 0);  // surrogate
    CHECK(utf8_incomplete_tail("ab\xF0\x9F") == 2);
    CHECK(utf8_incomplete_tail("ab\xF0\x9F\xA6\x99") == 0);
    CHECK(utf8_incomplete_tail("ab\xC3(") == 0);
    CHECK(utf8_sanitize("a\xF0\x9F"
                        "b") ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(nfc("e\xCC\x81") == "\xC3\xA9");
}

TEST_CASE("tok: a spec that does not hold together is refused with a message") {
    TokenizerSpec s = toy_byte_level();
    s.merges.push_back({"no-such", "token"});
    CHECK_THROWS_WITH_AS(Tokenizer{s}, doctest::Contains("merge 6"), mq::Error);
    s = toy_spm();
    s.bos_id = 100000;
    CHECK_THROWS_WITH_AS(Tokenizer{s}, doctest::Contains("bos token id"), mq::Error);
    s = toy_spm();
    s.scores.pop_back();
    CHECK_THROWS_AS(Tokenizer{s}, mq::Error);
    s = toy_spm();
    s.model = "wordpiece";
    CHECK_THROWS_WITH_AS(Tokenizer{s}, doctest::Contains("wordpiece"), mq::Error);
    s = toy_byte_level();
    s.pre = "klingon";
    CHECK_THROWS_WITH_AS(Tokenizer{s}, doctest::Contains("klingon"), mq::Error);
}

TEST_CASE("tok: GGUF tokenizer metadata round-trips and bad metadata names its key") {
    for (TokenizerSpec spec : {toy_spm(), toy_byte_level()}) {
        spec.chat_template = "{{ messages }}";
        const TokenizerSpec back = via_gguf(spec);
        CHECK(back.model == spec.model);
        CHECK(back.tokens == spec.tokens);
        CHECK(back.merges == spec.merges);
        CHECK(back.bos_id == spec.bos_id);
        CHECK(back.eos_id == spec.eos_id);
        CHECK(back.add_bos == spec.add_bos);
        CHECK(back.add_space_prefix == spec.add_space_prefix);
        CHECK(back.chat_template == spec.chat_template);
        const Tokenizer a(spec), b(back);
        CHECK(a.encode("the hello abc bbb") == b.encode("the hello abc bbb"));
    }
    auto file_with = [](auto&& edit) {
        mq::gguf::Writer w;
        write_gguf_metadata(w, toy_spm());
        edit(w);
        const auto bytes = w.to_bytes();
        return mq::gguf::File::from_bytes(bytes, "bad.gguf");
    };
    CHECK_THROWS_WITH_AS(spec_from_gguf(file_with([](mq::gguf::Writer& w) {
                             w.set_f32_array("tokenizer.ggml.scores", std::vector<float>{1, 2});
                         })),
                         doctest::Contains("tokenizer.ggml.scores"), mq::Error);
    CHECK_THROWS_WITH_AS(spec_from_gguf(file_with([](mq::gguf::Writer& w) {
                             w.set_u32("tokenizer.ggml.eos_token_id", 1u << 30);
                         })),
                         doctest::Contains("eos_token_id"), mq::Error);
    CHECK_THROWS_WITH_AS(spec_from_gguf(file_with([](mq::gguf::Writer& w) {
                             w.set_string("tokenizer.ggml.model", "bert");
                         })),
                         doctest::Contains("bert"), mq::Error);
    CHECK_THROWS_WITH_AS(spec_from_gguf(file_with([](mq::gguf::Writer& w) {
                             w.set_i32_array("tokenizer.ggml.token_type",
                                             std::vector<int32_t>(3, 9));
                         })),
                         doctest::Contains("token_type"), mq::Error);
}

TEST_CASE("tok: a truncated or corrupt SentencePiece model gives an error, not a crash") {
    const auto model = mq::test::fixture("llama2-tokenizer.model");
    if (!model) return;
    const std::string bytes = read_file(*model);
    auto as_span = [](const std::string& s) {
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size());
    };
    for (size_t cut : {size_t{1}, size_t{7}, size_t{100}, bytes.size() / 2, bytes.size() - 3}) {
        const std::string part = bytes.substr(0, cut);
        CHECK_THROWS_AS(spec_from_sentencepiece(as_span(part), "cut.model"), mq::Error);
    }
    std::string flipped = bytes;
    flipped[1] = '\x7F';  // first piece's length becomes huge
    CHECK_THROWS_WITH_AS(spec_from_sentencepiece(as_span(flipped), "flipped.model"),
                         doctest::Contains("offset"), mq::Error);
}

TEST_CASE("tok: Hugging Face tokenizer.json builder reads the pieces that matter") {
    const std::string tj = R"({
      "added_tokens": [{"id": 5, "content": "<|end|>", "special": true},
                       {"id": 6, "content": "<think>", "special": false}],
      "normalizer": {"type": "NFC"},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": false},
          {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
      "post_processor": {"type": "TemplateProcessing", "single": [
          {"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
      "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "ignore_merges": true,
                "vocab": {"a": 0, "b": 1, "ab": 2, "1": 3, "2": 4},
                "merges": [["a", "b"]]}})";
    const std::string cfg = R"({"eos_token": {"content": "<|end|>"}, "chat_template": [
        {"name": "default", "template": "<|im_start|>"}]})";
    const TokenizerSpec s = spec_from_hf_json(tj, cfg);
    CHECK(s.model == "gpt2");
    CHECK(s.normalizer == "nfc");
    CHECK(s.ignore_merges);
    CHECK(s.pre_patterns == std::vector<std::string>{"\\p{N}"});
    CHECK(s.tokens.size() == 7);
    CHECK(s.types[5] == TokenType::Control);
    CHECK(s.types[6] == TokenType::UserDefined);
    CHECK(s.eos_id == 5);
    CHECK(s.bos_id == 5);
    CHECK(s.add_bos);
    CHECK(s.chat_template == "<|im_start|>");
    CHECK_THROWS_AS(spec_from_hf_json("{not json"), mq::Error);
    CHECK_THROWS_WITH_AS(spec_from_hf_json(R"({"model": {"type": "Unigram"}})"),
                         doctest::Contains("Unigram"), mq::Error);
}

TEST_CASE("tok: mobiquant tokenize works on a GGUF file written by gguf::Writer") {
    const fs::path dir = fs::temp_directory_path() / "mq_tok_cli";
    fs::create_directories(dir);
    const fs::path model = dir / "toy.gguf";
    mq::gguf::Writer w;
    w.set_string("general.architecture", "llama");
    TokenizerSpec spec = toy_byte_level();
    write_gguf_metadata(w, spec);
    w.write(model);
    const Tokenizer t(spec);
    const std::string exe = MQ_MOBIQUANT_EXE;

    int status = 0;
    std::string out = run_command(
        "printf 'the hello<|eot|>' | " + exe + " tokenize --model " + model.string(), &status);
    CHECK(status == 0);
    const auto ids = t.encode("the hello<|eot|>", {.parse_special = true});
    std::string expect;
    for (size_t i = 0; i < ids.size(); ++i) expect += (i ? " " : "") + std::to_string(ids[i]);
    CHECK(out == expect + "\n");

    out = run_command(
        "echo '" + expect + "' | " + exe + " tokenize --decode --model " + model.string(), &status);
    CHECK(status == 0);
    CHECK(out == "the hello");
    out = run_command(
        "echo 12 99999 | " + exe + " tokenize --decode --model " + model.string() + " 2>&1",
        &status);
    CHECK(status != 0);
    CHECK(out.find("99999") != std::string::npos);
    out = run_command(
        exe + " tokenize --model " + (dir / "missing.gguf").string() + " </dev/null 2>&1", &status);
    CHECK(status != 0);
    CHECK(out.find("missing.gguf") != std::string::npos);
    fs::remove_all(dir);
}
