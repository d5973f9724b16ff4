// Hugging Face tokenizer.json (+ tokenizer_config.json) -> TokenizerSpec.
// Supported: model "BPE" either byte-level (a ByteLevel pre-tokenizer, optionally after Split
// regexes and Digits: GPT-2, Llama 3, Qwen, SmolLM) or SentencePiece-like (normalizer
// Prepend/Replace or a Metaspace pre-tokenizer, byte_fallback: Llama 2, TinyLlama, Mistral).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/spec.hpp"

namespace mq::tok {

using nlohmann::json;

namespace {
constexpr const char* kSpaceMark = "\xE2\x96\x81";

std::string token_content(const json& v) {  // "<s>" or {"content": "<s>", ...}
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return v["content"].get<std::string>();
    return {};
}

std::string str(const json& obj, const char* key) {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return {};
    return obj[key].get<std::string>();
}

struct PreInfo {
    bool byte_level = false;
    bool metaspace = false;
    bool metaspace_prefix = false;
    bool add_prefix_space = false;
    std::vector<std::string> patterns;
};

void read_pre(const json& p, PreInfo& info) {
    if (p.is_null()) return;
    const std::string type = str(p, "type");
    if (type == "Sequence") {
        for (const auto& item : p.value("pretokenizers", json::array())) read_pre(item, info);
    } else if (type == "Split") {
        const json& pat = p.value("pattern", json::object());
        if (!pat.contains("Regex") || !pat["Regex"].is_string())
            fail("tokenizer.json: Split pre-tokenizer without a Regex pattern is not supported");
        if (str(p, "behavior") != "Isolated" || p.value("invert", false))
            fail("tokenizer.json: Split behaviour \"{}\" is not supported (only Isolated)",
                 str(p, "behavior"));
        info.patterns.push_back(pat["Regex"].get<std::string>());
    } else if (type == "Digits") {
        info.patterns.push_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    } else if (type == "ByteLevel") {
        info.byte_level = true;
        info.add_prefix_space = p.value("add_prefix_space", false);
        if (p.value("use_regex", true)) {
            const auto gpt2 = pretokenizer_patterns("gpt2");
            info.patterns.insert(info.patterns.end(), gpt2.begin(), gpt2.end());
        }
    } else if (type == "Metaspace") {
        info.metaspace = true;
        const std::string scheme = str(p, "prepend_scheme");
        info.metaspace_prefix =
            scheme.empty() ? p.value("add_prefix_space", true) : scheme != "never";
    } else {
        fail("tokenizer.json: pre-tokenizer \"{}\" is not supported", type);
    }
}

// Returns true when the normalizer is the SentencePiece-style Prepend/Replace pair.
void read_normalizer(const json& n, TokenizerSpec& s, bool& spm_like, bool& prepend) {
    if (n.is_null()) return;
    const std::string type = str(n, "type");
    if (type == "Sequence") {
        for (const auto& item : n.value("normalizers", json::array()))
            read_normalizer(item, s, spm_like, prepend);
    } else if (type == "NFC") {
        s.normalizer = "nfc";
    } else if (type == "Prepend" && str(n, "prepend") == kSpaceMark) {
        prepend = true;
    } else if (type == "Replace" && n.contains("pattern") && str(n["pattern"], "String") == " " &&
               str(n, "content") == kSpaceMark) {
        spm_like = true;
    } else {
        fail("tokenizer.json: normalizer \"{}\" is not supported", type);
    }
}

// Whether the post-processor template puts a special token first (BOS) or last (EOS).
void read_template(const json& p, bool& bos, bool& eos, std::string& bos_text) {
    if (p.is_null()) return;
    const std::string type = str(p, "type");
    if (type == "Sequence") {
        for (const auto& item : p.value("processors", json::array()))
            read_template(item, bos, eos, bos_text);
        return;
    }
    if (type != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array() ||
        p["single"].empty())
        return;
    const json& single = p["single"];
    if (single.front().contains("SpecialToken")) {
        bos = true;
        bos_text = str(single.front()["SpecialToken"], "id");
    }
    if (single.back().contains("SpecialToken")) eos = true;
}

// Vocabulary and added tokens, by id.
using TokensById = std::map<int64_t, std::pair<std::string, TokenType>>;

TokensById read_tokens(const json& tj, const json& model) {
    TokensById by_id;
    if (!model.contains("vocab") || !model["vocab"].is_object())
        fail("tokenizer.json model has no \"vocab\" object");
    for (const auto& [text, id] : model["vocab"].items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() > (int64_t{1} << 21))
            fail("tokenizer.json vocab entry \"{}\" has an invalid id", text);
        by_id[id.get<int64_t>()] = {text, TokenType::Normal};
    }
    for (const auto& t : tj.value("added_tokens", json::array())) {
        if (!t.contains("id") || !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0 ||
            t["id"].get<int64_t>() > (int64_t{1} << 21))
            fail("tokenizer.json added token without a valid id");
        by_id[t["id"].get<int64_t>()] = {str(t, "content"), t.value("special", false)
                                                                ? TokenType::Control
                                                                : TokenType::UserDefined};
    }
    if (by_id.empty()) fail("tokenizer.json vocabulary is empty");
    return by_id;
}

// Merges as "a b" strings or [a, b] pairs.
void read_merges(const json& model, TokenizerSpec& s) {
    for (const auto& m : model.value("merges", json::array())) {
        if (m.is_string()) {
            const std::string text = m.get<std::string>();
            const size_t space = text.find(' ', 1);
            if (space == std::string::npos)
                fail("tokenizer.json merge \"{}\" is not \"a b\"", text);
            s.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            s.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            fail("tokenizer.json merge {} is neither \"a b\" nor [a, b]", m.dump());
        }
    }
}

// Byte-level BPE ("gpt2", with its pre-tokenizer) or SentencePiece-style BPE ("llama", byte
// fallback required).
void read_model_kind(const json& tj, const json& model, const PreInfo& pre, bool spm_like,
                     bool prepend, TokenizerSpec& s) {
    if (pre.byte_level || str(tj.value("decoder", json()), "type") == "ByteLevel") {
        s.model = "gpt2";
        s.pre_patterns = pre.patterns;
        s.add_space_prefix = pre.add_prefix_space;
        s.ignore_merges = model.value("ignore_merges", false);
        s.pre = "default";
        if (s.pre_patterns.empty()) {
            s.pre_patterns = {R"([\s\S]+)"};  // no split at all: the whole text is one word
        } else {
            for (const char* name : {"gpt2", "llama3", "qwen2"})
                if (s.pre_patterns == pretokenizer_patterns(name)) s.pre = name;
            if (s.pre != "default") s.pre_patterns.clear();  // a known one: store its name
        }
    } else if (spm_like || pre.metaspace) {
        s.model = "llama";
        s.add_space_prefix = prepend || (pre.metaspace && pre.metaspace_prefix);
        if (!model.value("byte_fallback", false))
            fail("tokenizer.json: SentencePiece-style BPE without byte_fallback is not supported");
        for (size_t i = 0; i < s.tokens.size(); ++i)
            if (s.types[i] == TokenType::Normal && s.tokens[i].size() == 6 &&
                s.tokens[i].rfind("<0x", 0) == 0 && s.tokens[i].back() == '>')
                s.types[i] = TokenType::Byte;
    } else {
        fail("tokenizer.json: neither a byte-level nor a SentencePiece-style BPE tokenizer");
    }
}

// The special token ids and whether BOS/EOS are added: tokenizer_config.json first, else the
// post-processor's template.
void read_special_tokens(const json& tj, const json& model, const json& cfg,
                         const TokensById& by_id, TokenizerSpec& s) {
    auto id_of = [&](const std::string& text) -> int32_t {
        if (text.empty()) return -1;
        for (auto& [id, entry] : by_id)
            if (entry.first == text) return static_cast<int32_t>(id);
        return -1;
    };
    const std::string unk = model.contains("unk_token") ? token_content(model["unk_token"]) : "";
    s.unk_id = id_of(unk);
    if (s.unk_id >= 0) s.types[s.unk_id] = TokenType::Unknown;

    bool tmpl_bos = false, tmpl_eos = false;
    std::string tmpl_bos_text;
    read_template(tj.value("post_processor", json()), tmpl_bos, tmpl_eos, tmpl_bos_text);
    const std::string bos_text =
        cfg.contains("bos_token") ? token_content(cfg["bos_token"]) : tmpl_bos_text;
    s.bos_id = id_of(bos_text);
    if (cfg.contains("eos_token")) s.eos_id = id_of(token_content(cfg["eos_token"]));
    if (cfg.contains("pad_token")) s.pad_id = id_of(token_content(cfg["pad_token"]));
    if (cfg.contains("unk_token") && s.unk_id < 0)
        s.unk_id = id_of(token_content(cfg["unk_token"]));
    s.add_bos = cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()
                    ? cfg["add_bos_token"].get<bool>()
                    : tmpl_bos;
    s.add_eos = cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()
                    ? cfg["add_eos_token"].get<bool>()
                    : tmpl_eos;
    if (s.add_bos && s.bos_id < 0) s.add_bos = false;
    for (const char* eot : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"})
        if (s.eot_id < 0) s.eot_id = id_of(eot);
    s.eom_id = id_of("<|eom_id|>");
}

// tokenizer_config.json's chat_template: a string, or named templates (the "default" one).
void read_chat_template(const json& cfg, TokenizerSpec& s) {
    if (!cfg.contains("chat_template")) return;
    const json& ct = cfg["chat_template"];
    if (ct.is_string()) {
        s.chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {  // [{"name": "default", "template": "..."}, ...]
        for (const auto& entry : ct)
            if (str(entry, "name") == "default") s.chat_template = str(entry, "template");
        if (s.chat_template.empty() && !ct.empty()) s.chat_template = str(ct[0], "template");
    }
}
}  // namespace

static TokenizerSpec parse_hf_json(std::string_view tokenizer_json, std::string_view config_json) {
    json tj, cfg;
    try {
        tj = json::parse(tokenizer_json);
        cfg = config_json.empty() ? json::object() : json::parse(config_json);
    } catch (const json::exception& e) {
        fail("tokenizer.json / tokenizer_config.json is not valid JSON: {}", e.what());
    }
    if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
        fail("tokenizer.json has no \"model\" object");
    if (!cfg.is_object()) cfg = json::object();
    const json& model = tj["model"];
    const std::string model_type = str(model, "type");
    if (model_type != "BPE")
        fail("tokenizer.json model type \"{}\" is not supported (only BPE)", model_type);

    TokenizerSpec s;
    PreInfo pre;
    read_pre(tj.value("pre_tokenizer", json()), pre);
    bool spm_like = false, prepend = false;
    read_normalizer(tj.value("normalizer", json()), s, spm_like, prepend);

    const TokensById by_id = read_tokens(tj, model);
    const int64_t n = by_id.rbegin()->first + 1;
    s.tokens.resize(n);
    s.types.assign(n, TokenType::Unused);
    for (int64_t i = 0; i < n; ++i) s.tokens[i] = "[PAD" + std::to_string(i) + "]";
    for (auto& [id, entry] : by_id) {
        s.tokens[id] = entry.first;
        s.types[id] = entry.second;
    }
    read_merges(model, s);
    read_model_kind(tj, model, pre, spm_like, prepend, s);
    read_special_tokens(tj, model, cfg, by_id, s);
    read_chat_template(cfg, s);
    return s;
}

TokenizerSpec spec_from_hf_json(std::string_view tokenizer_json, std::string_view config_json) {
    try {
        return parse_hf_json(tokenizer_json, config_json);
    } catch (const json::exception& e) {  // a value of the wrong JSON type somewhere
        fail("tokenizer.json / tokenizer_config.json has an unexpected value: {}", e.what());
    }
}

TokenizerSpec spec_from_hf_dir(const std::filesystem::path& dir) {
    const auto tj = dir / "tokenizer.json";
    if (!std::filesystem::exists(tj))
        fail("{}: no tokenizer.json (a Hugging Face model directory needs one)", dir.string());
    const auto cfg = dir / "tokenizer_config.json";
    std::string cfg_text;
    if (std::filesystem::exists(cfg)) cfg_text = read_text_file(cfg);
    try {
        return spec_from_hf_json(read_text_file(tj), cfg_text);
    } catch (const Error& e) {
        fail("{}: {}", dir.string(), e.what());
    }
}

std::vector<float> scores_from_merges(const TokenizerSpec& spec) {
    std::vector<float> scores(spec.tokens.size(), -1e9f);
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < spec.tokens.size(); ++i) index.emplace(spec.tokens[i], i);
    for (size_t r = spec.merges.size(); r-- > 0;) {  // lowest rank wins: assign it last
        const auto it = index.find(spec.merges[r].first + spec.merges[r].second);
        if (it != index.end()) scores[it->second] = -static_cast<float>(r);
    }
    return scores;
}

}  // namespace mq::tok
