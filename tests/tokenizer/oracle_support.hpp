#pragma once
// Helpers for the tokenizer tests: reading the oracles' expected ids and vocabulary files,
// and running a tokenizer over a whole corpus.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace mq::tok::test {

namespace fs = std::filesystem;

struct OracleCase {
    std::string text;
    std::vector<int32_t> ids;
};

std::string read_file(const fs::path& path);
nlohmann::json read_json(const fs::path& path);
fs::path source_dir();
// tests/tokenizer/oracle/expected/<name>.json; checks its strings are corpus.json's.
std::vector<OracleCase> load_expected(const fs::path& path);
// A file of an npm oracle package (installed by the tok_npm fixture); fails the test clearly
// when it is missing.
fs::path npm_file(const std::string& relative);
std::string base64_decode(std::string_view text);

// The spec after a trip through GGUF metadata (gguf::Writer -> gguf::File -> spec_from_gguf).
TokenizerSpec via_gguf(const TokenizerSpec& spec);

struct CorpusReport {
    size_t cases = 0, mismatches = 0;
};
// Encodes every case and CHECKs the ids; also checks that decode() gives the text back
// (`expect_text` maps the input to the text decoding should give, "" = no round-trip check)
// and that the streaming decoder emits the same text as well-formed UTF-8.
CorpusReport check_corpus(const Tokenizer& tokenizer, const std::vector<OracleCase>& cases,
                          EncodeOptions options, const std::string& label, bool check_round_trip);

}  // namespace mq::tok::test
