#pragma once
// Pre-tokenization: splits text into words with the Unicode-aware regular expressions of the
// byte-level BPE tokenizers (GPT-2, Llama 3, Qwen 2), compiled by PCRE2 with UTF and UCP
// (Unicode properties for \p{L}, \s, ...) and JIT-compiled where PCRE2 supports it.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mq::tok {

// The split patterns, exactly as the Hugging Face tokenizer.json files of these models write them.
std::vector<std::string> pretokenizer_patterns(std::string_view pre_type);  // throws when unknown
bool is_known_pretokenizer(std::string_view pre_type);

// One compiled pattern. Splitting keeps every byte: the matches and the text between them
// (Hugging Face's "Isolated" split behaviour) become the pieces, in order.
class SplitRegex {
  public:
    explicit SplitRegex(const std::string& pattern);  // throws mq::Error naming the pattern
    ~SplitRegex();
    SplitRegex(const SplitRegex&) = delete;
    SplitRegex& operator=(const SplitRegex&) = delete;

    // `text` must be well-formed UTF-8 (checked by the caller; PCRE2 is told to skip the check).
    void split(std::string_view text, std::vector<std::string_view>& pieces) const;
    bool jit() const { return jit_; }

  private:
    struct Code;
    std::unique_ptr<Code> code_;
    bool jit_ = false;
};

// A sequence of patterns: each one splits the pieces the previous one produced.
class PreTokenizer {
  public:
    explicit PreTokenizer(const std::vector<std::string>& patterns);
    std::vector<std::string_view> split(std::string_view text) const;

  private:
    std::vector<std::unique_ptr<SplitRegex>> regexes_;
};

}  // namespace mq::tok
