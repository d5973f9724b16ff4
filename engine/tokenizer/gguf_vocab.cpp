// TokenizerSpec <-> GGUF tokenizer.* metadata, with llama.cpp's keys and defaults.
#include <algorithm>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/spec.hpp"

namespace mq::tok {

namespace {
int32_t read_id(const gguf::File& f, std::string_view key, int32_t fallback) {
    const gguf::Value* v = f.find(key);
    if (!v) return fallback;
    const int64_t id = v->as_int(key);
    if (id < -1 || id > INT32_MAX) fail("{}: token id {} is out of range", key, id);
    return static_cast<int32_t>(id);
}

bool is_llama3_pre(std::string_view pre) {
    return pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3";
}
}  // namespace

TokenizerSpec spec_from_gguf(const gguf::File& f) {
    TokenizerSpec s;
    s.model = f.get_string("tokenizer.ggml.model");
    if (s.model != "llama" && s.model != "gpt2")
        fail(
            "{}: tokenizer.ggml.model is \"{}\"; supported: llama (SentencePiece BPE), gpt2 "
            "(byte-level BPE)",
            f.name(), s.model);
    s.tokens = f.get_string_array("tokenizer.ggml.tokens");
    const size_t n = s.tokens.size();
    if (f.has("tokenizer.ggml.scores")) {
        s.scores = f.get_float_array("tokenizer.ggml.scores");
        if (s.scores.size() != n)
            fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", f.name(),
                 s.scores.size(), n);
    }
    if (f.has("tokenizer.ggml.token_type")) {
        const auto types = f.get_int_array("tokenizer.ggml.token_type");
        if (types.size() != n)
            fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", f.name(),
                 types.size(), n);
        s.types.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            if (types[i] < 0 || types[i] > 6)
                fail("{}: tokenizer.ggml.token_type[{}] = {} is not a token type", f.name(), i,
                     types[i]);
            s.types.push_back(static_cast<TokenType>(types[i]));
        }
    }
    if (s.model == "gpt2") {
        s.pre = f.get_string_or("tokenizer.ggml.pre", "default");
        if (s.pre == "gpt-2") s.pre = "gpt2";
        if (is_llama3_pre(s.pre)) {
            s.pre = "llama3";
            s.ignore_merges = true;  // as llama.cpp and Llama 3's tokenizer.json do
        }
        if (s.pre == "qwen2") s.normalizer = "nfc";  // Qwen's tokenizer.json normalizes to NFC
        const auto merges = f.get_string_array("tokenizer.ggml.merges");
        s.merges.reserve(merges.size());
        for (size_t i = 0; i < merges.size(); ++i) {
            const std::string& m = merges[i];
            const size_t space = m.find(' ', 1);
            if (space == std::string::npos)
                fail(
                    "{}: tokenizer.ggml.merges[{}] (\"{}\") is not two tokens separated by a "
                    "space",
                    f.name(), i, m);
            s.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
        }
        s.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", false);
        s.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", false);
    } else {
        s.bos_id = 1;  // llama.cpp's SentencePiece defaults
        s.eos_id = 2;
        s.unk_id = 0;
        s.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", true);
        s.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", true);
        s.remove_extra_whitespaces =
            f.get_bool_or("tokenizer.ggml.remove_extra_whitespaces", false);
    }
    s.add_eos = f.get_bool_or("tokenizer.ggml.add_eos_token", false);
    s.bos_id = read_id(f, "tokenizer.ggml.bos_token_id", s.bos_id);
    s.eos_id = read_id(f, "tokenizer.ggml.eos_token_id", s.eos_id);
    s.unk_id = read_id(f, "tokenizer.ggml.unknown_token_id", s.unk_id);
    s.pad_id = read_id(f, "tokenizer.ggml.padding_token_id", s.pad_id);
    s.eot_id = read_id(f, "tokenizer.ggml.eot_token_id", s.eot_id);
    s.eom_id = read_id(f, "tokenizer.ggml.eom_token_id", s.eom_id);
    for (auto [key, id] : {std::pair{"bos_token_id", s.bos_id},
                           {"eos_token_id", s.eos_id},
                           {"unknown_token_id", s.unk_id},
                           {"padding_token_id", s.pad_id},
                           {"eot_token_id", s.eot_id},
                           {"eom_token_id", s.eom_id}})
        if (id >= static_cast<int64_t>(n))
            fail("{}: tokenizer.ggml.{} = {} is past the vocabulary ({} tokens)", f.name(), key, id,
                 n);
    s.chat_template = f.get_string_or("tokenizer.chat_template", "");
    return s;
}

void write_gguf_metadata(gguf::Writer& w, const TokenizerSpec& s) {
    w.set_string("tokenizer.ggml.model", s.model);
    if (s.model == "gpt2") w.set_string("tokenizer.ggml.pre", s.pre);
    w.set_string_array("tokenizer.ggml.tokens", s.tokens);
    std::vector<float> scores = s.scores;
    if (scores.empty() && s.model == "llama" && !s.merges.empty())
        scores = scores_from_merges(s);  // GGUF "llama" vocabularies carry scores, not merges
    if (!scores.empty()) w.set_f32_array("tokenizer.ggml.scores", scores);
    std::vector<int32_t> types(s.tokens.size());
    for (int32_t i = 0; i < s.size(); ++i) types[i] = static_cast<int32_t>(s.type(i));
    w.set_i32_array("tokenizer.ggml.token_type", types);
    if (!s.merges.empty()) {
        std::vector<std::string> merges;
        merges.reserve(s.merges.size());
        for (const auto& [a, b] : s.merges) merges.push_back(a + " " + b);
        w.set_string_array("tokenizer.ggml.merges", merges);
    }
    auto put_id = [&](const char* key, int32_t id) {
        if (id >= 0) w.set_u32(std::string("tokenizer.ggml.") + key, static_cast<uint32_t>(id));
    };
    put_id("bos_token_id", s.bos_id);
    put_id("eos_token_id", s.eos_id);
    put_id("unknown_token_id", s.unk_id);
    put_id("padding_token_id", s.pad_id);
    put_id("eot_token_id", s.eot_id);
    put_id("eom_token_id", s.eom_id);
    w.set_bool("tokenizer.ggml.add_bos_token", s.add_bos);
    w.set_bool("tokenizer.ggml.add_eos_token", s.add_eos);
    w.set_bool("tokenizer.ggml.add_space_prefix", s.add_space_prefix);
    if (s.remove_extra_whitespaces) w.set_bool("tokenizer.ggml.remove_extra_whitespaces", true);
    if (!s.chat_template.empty()) w.set_string("tokenizer.chat_template", s.chat_template);
}

}  // namespace mq::tok
