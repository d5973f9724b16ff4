#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.hpp"

#include <pcre2.h>

#include "core/error.hpp"
#include "tokenizer/unicode.hpp"

namespace mq::tok {

namespace {
// GPT-2 (and the Hugging Face ByteLevel pre-tokenizer's built-in pattern).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 (tokenizer.json of Meta-Llama-3 and 3.x): digits in groups of up to three.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen 2 / 2.5 / 3: like Llama 3 but every digit on its own.
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}  // namespace

bool is_known_pretokenizer(std::string_view pre) {
    return pre == "default" || pre == "gpt2" || pre == "gpt-2" || pre == "llama3" ||
           pre == "llama-bpe" || pre == "llama-v3" || pre == "qwen2" || pre == "smollm";
}

std::vector<std::string> pretokenizer_patterns(std::string_view pre) {
    // llama.cpp names: "llama-bpe" is what convert_hf_to_gguf.py writes for Llama 3.
    if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3") return {kLlama3};
    if (pre == "qwen2") return {kQwen2};
    // "default" and SmolLM use GPT-2's pattern (SmolLM's tokenizer.json is a plain ByteLevel one).
    if (pre == "gpt2" || pre == "gpt-2" || pre == "default" || pre == "smollm") return {kGpt2};
    fail("unknown pre-tokenizer \"{}\" (known: default, gpt2, llama3, qwen2)", pre);
}

struct SplitRegex::Code {
    pcre2_code* code = nullptr;
    ~Code() {
        if (code) pcre2_code_free(code);
    }
};

SplitRegex::SplitRegex(const std::string& pattern) : code_(std::make_unique<Code>()) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
    if (!code_->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail("pre-tokenizer pattern does not compile at offset {}: {} (pattern: {})", err_offset,
             reinterpret_cast<const char*>(msg), pattern);
    }
    jit_ = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

SplitRegex::~SplitRegex() = default;

namespace {
// A JIT stack per thread, larger than PCRE2's 32 KiB default so long whitespace runs match.
struct MatchScratch {
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchScratch() {
        context = pcre2_match_context_create(nullptr);
        stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchScratch() {
        if (stack) pcre2_jit_stack_free(stack);
        if (context) pcre2_match_context_free(context);
    }
};
}  // namespace

void SplitRegex::split(std::string_view text, std::vector<std::string_view>& pieces) const {
    thread_local MatchScratch scratch;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->code, nullptr);
    if (!md) fail("out of memory creating PCRE2 match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0, gap_start = 0;
    while (pos < text.size()) {
        int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md,
                             scratch.context);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && jit_) {
            // JIT resource limit: retry this position with the interpreter.
            rc = pcre2_match(code_->code, subject, text.size(), pos,
                             PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        size_t start, end;
        if (rc < 0) {
            // Still failing (a resource limit on hostile input): take one character as a word.
            start = pos;
            const size_t len = utf8_char_len(text, pos);
            end = pos + (len ? len : 1);
        } else {
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            start = ov[0];
            end = ov[1];
        }
        if (end == start) {  // an empty match: step over one character
            const size_t len = utf8_char_len(text, pos);
            pos += len ? len : 1;
            continue;
        }
        if (start > gap_start) pieces.push_back(text.substr(gap_start, start - gap_start));
        pieces.push_back(text.substr(start, end - start));
        pos = gap_start = end;
    }
    if (gap_start < text.size()) pieces.push_back(text.substr(gap_start));
    pcre2_match_data_free(md);
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) regexes_.push_back(std::make_unique<SplitRegex>(p));
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces{text};
    std::vector<std::string_view> next;
    for (const auto& re : regexes_) {
        next.clear();
        for (auto piece : pieces) re->split(piece, next);
        pieces.swap(next);
    }
    return pieces;
}

}  // namespace mq::tok
