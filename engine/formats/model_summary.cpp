#include "formats/model_summary.hpp"

#include <fmt/format.h>

#include <cctype>
#include <map>
#include <string>

namespace mq {

namespace {

// HF special tokens are a string or {"content": "..."}.
std::string token_text(const nlohmann::json* config, const char* key) {
    if (!config || !config->is_object()) return "";
    auto it = config->find(key);
    if (it == config->end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
    return "";
}

// Largest id in tokenizer.json's vocabulary and added tokens, plus one.
void summarize_hf_tokenizer(const nlohmann::json& tok, TokenizerSummary& s,
                            std::map<int64_t, std::string>& specials) {
    int64_t max_id = -1;
    if (auto m = tok.find("model"); m != tok.end() && m->is_object()) {
        s.model = m->value("type", "");
        if (auto v = m->find("vocab"); v != m->end()) {
            if (v->is_object()) {  // BPE / WordPiece: {"piece": id}
                for (const auto& [piece, id] : v->items())
                    if (id.is_number_integer()) max_id = std::max(max_id, id.get<int64_t>());
            } else if (v->is_array()) {  // Unigram: [["piece", score], ...]
                max_id = static_cast<int64_t>(v->size()) - 1;
            }
        }
    }
    if (auto pre = tok.find("pre_tokenizer"); pre != tok.end() && pre->is_object())
        s.pre = pre->value("type", "");
    if (auto added = tok.find("added_tokens"); added != tok.end() && added->is_array())
        for (const auto& t : *added)
            if (t.is_object() && t.contains("id") && t["id"].is_number_integer()) {
                int64_t id = t["id"].get<int64_t>();
                max_id = std::max(max_id, id);
                if (t.contains("content") && t["content"].is_string())
                    specials[id] = t["content"].get<std::string>();
            }
    s.vocab_size = static_cast<uint64_t>(max_id + 1);
}

std::string human_count(uint64_t n) {
    if (n >= 1'000'000'000) return fmt::format("{:.2f}B", n / 1e9);
    if (n >= 1'000'000) return fmt::format("{:.1f}M", n / 1e6);
    if (n >= 1'000) return fmt::format("{:.1f}K", n / 1e3);
    return fmt::format("{}", n);
}

std::string human_bytes(uint64_t n) {
    if (n >= (1ull << 30)) return fmt::format("{:.2f} GiB", n / double(1ull << 30));
    if (n >= (1ull << 20)) return fmt::format("{:.1f} MiB", n / double(1ull << 20));
    if (n >= (1ull << 10)) return fmt::format("{:.1f} KiB", n / double(1ull << 10));
    return fmt::format("{} B", n);
}

// A float as the double that prints the same (1e-05, not 9.999999747378752e-06).
double json_float(float f) {
    return std::stod(fmt::format("{}", f));
}

}  // namespace

TokenizerSummary summarize_tokenizer(const LoadedModel& model) {
    TokenizerSummary s;
    s.bos_id = model.desc().bos_id;
    s.eos_id = model.desc().eos_id;
    if (const gguf::File* g = model.gguf()) {
        s.model = g->get_string_or("tokenizer.ggml.model", "");
        s.pre = g->get_string_or("tokenizer.ggml.pre", "");
        s.has_chat_template = g->has("tokenizer.chat_template");
        if (const gguf::Value* tokens = g->find("tokenizer.ggml.tokens");
            tokens && tokens->is_array()) {
            const auto& items = tokens->as_array().items;
            s.vocab_size = items.size();
            auto text = [&](int64_t id) -> std::string {
                if (id < 0 || static_cast<uint64_t>(id) >= items.size() || !items[id].is_string())
                    return "";
                return items[id].as_string();
            };
            s.bos_text = text(s.bos_id);
            s.eos_text = text(s.eos_id);
        }
    } else if (const HfModelDir* hf = model.hf()) {
        std::map<int64_t, std::string> specials;
        if (hf->tokenizer()) summarize_hf_tokenizer(*hf->tokenizer(), s, specials);
        s.has_chat_template = !hf->chat_template().empty();
        s.bos_text = token_text(hf->tokenizer_config(), "bos_token");
        s.eos_text = token_text(hf->tokenizer_config(), "eos_token");
        for (const auto& [id, text] : specials) {  // ids the config does not give
            if (s.bos_id < 0 && !s.bos_text.empty() && text == s.bos_text) s.bos_id = id;
            if (s.eos_id < 0 && !s.eos_text.empty() && text == s.eos_text) s.eos_id = id;
        }
        if (s.bos_text.empty() && specials.count(s.bos_id)) s.bos_text = specials[s.bos_id];
        if (s.eos_text.empty() && specials.count(s.eos_id)) s.eos_text = specials[s.eos_id];
    }
    return s;
}

nlohmann::json to_json(const gguf::Value& v) {
    using gguf::ValueType;
    switch (v.type) {
        case ValueType::String:
            return v.as_string();
        case ValueType::Bool:
            return v.as_bool();
        case ValueType::Float32:
        case ValueType::Float64:
            return v.as_float();
        case ValueType::Array: {
            nlohmann::json a = nlohmann::json::array();
            for (const gguf::Value& item : v.as_array().items) a.push_back(to_json(item));
            return a;
        }
        default:
            if (const auto* u = std::get_if<uint64_t>(&v.data)) return *u;
            return std::get<int64_t>(v.data);
    }
}

nlohmann::json model_info_json(const LoadedModel& model) {
    const ModelDesc& d = model.desc();
    nlohmann::json j;
    j["path"] = model.path().string();
    j["format"] = d.source;
    j["name"] = d.name;
    j["architecture"] = d.arch;
    j["vocab_size"] = d.vocab_size;
    j["dim"] = d.dim;
    j["n_layers"] = d.n_layers;
    j["n_heads"] = d.n_heads;
    j["n_kv_heads"] = d.n_kv_heads;
    j["head_dim"] = d.head_dim;
    j["ffn_dim"] = d.ffn_dim;
    j["context_length"] = d.context_length;
    j["rms_eps"] = json_float(d.rms_eps);
    j["rope_theta"] = json_float(d.rope_theta);
    j["rope_layout"] = rope_layout_name(d.rope_layout);
    j["rope_scaling"] = {{"type", rope_scaling_name(d.rope_scaling.type)},
                         {"factor", json_float(d.rope_scaling.factor)},
                         {"low_freq_factor", json_float(d.rope_scaling.low_freq_factor)},
                         {"high_freq_factor", json_float(d.rope_scaling.high_freq_factor)},
                         {"original_context", d.rope_scaling.original_context}};
    j["tied_output"] = d.tied_output;
    j["qkv_bias"] = d.qkv_bias;
    j["parameters"] = model.parameter_count();
    uint64_t bytes = 0;
    for (const ModelTensor& t : model.tensors()) bytes += t.bytes;
    j["tensor_bytes"] = bytes;
    TokenizerSummary tok = summarize_tokenizer(model);
    j["tokenizer"] = {{"model", tok.model},           {"pre", tok.pre},
                      {"vocab_size", tok.vocab_size}, {"bos_id", tok.bos_id},
                      {"eos_id", tok.eos_id},         {"bos", tok.bos_text},
                      {"eos", tok.eos_text},          {"chat_template", tok.has_chat_template}};
    if (d.mobiquant) {
        nlohmann::json mq = nlohmann::json::object();
        for (const auto& [key, value] : model.gguf()->metadata())
            if (key.rfind("mobiquant.", 0) == 0) mq[key] = to_json(value);
        j["mobiquant"] = mq;
    }
    nlohmann::json tensors = nlohmann::json::array();
    for (const ModelTensor& t : model.tensors())
        tensors.push_back({{"name", t.name},
                           {"source_name", t.source_name},
                           {"shape", t.dims},
                           {"type", t.type},
                           {"bytes", t.bytes},
                           {"canonical", t.canonical}});
    j["tensors"] = tensors;
    return j;
}

std::string model_info_text(const LoadedModel& model, bool list_tensors) {
    const ModelDesc& d = model.desc();
    std::string out;
    auto line = [&](const char* label, const std::string& text) {
        out += fmt::format("{:<13}{}\n", label, text);
    };
    line("model", fmt::format("{} ({}, {})", d.name,
                              d.source == "gguf" ? "GGUF" : "Hugging Face safetensors",
                              model.path().string()));
    std::string kind = d.mobiquant ? " (MoBiQuant checkpoint" : "";
    if (d.mobiquant) {
        // What it was quantized from: "made from a Q4_K model" (mobiquant.source_type).
        std::string from = model.gguf()->get_string_or("mobiquant.source_type", "");
        for (char& c : from) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        // "an F16", "a Q4_K": the article goes by how the first letter is spoken.
        const bool vowel_sound =
            !from.empty() && std::string("AEFHILMNORSX").find(from[0]) != std::string::npos;
        if (!from.empty())
            kind += fmt::format(", made from {} {} model", vowel_sound ? "an" : "a", from);
        kind += ")";
    }
    line("architecture", d.arch + kind);
    line("sizes", fmt::format("vocab {}, dim {}, layers {}, heads {} (kv {}, head size {}), ffn {}",
                              d.vocab_size, d.dim, d.n_layers, d.n_heads, d.n_kv_heads, d.head_dim,
                              d.ffn_dim));
    line("context", fmt::format("{} tokens", d.context_length));
    std::string scaling = rope_scaling_name(d.rope_scaling.type);
    if (d.rope_scaling.type != RopeScalingType::None)
        scaling += fmt::format(" x{}", d.rope_scaling.factor);
    line("rope", fmt::format("theta {}, {} layout, scaling {}", d.rope_theta,
                             rope_layout_name(d.rope_layout), scaling));
    line("norm", fmt::format("rms eps {}", d.rms_eps));
    line("output", fmt::format("{}{}", d.tied_output ? "tied to token_embd" : "separate",
                               d.qkv_bias ? ", q/k/v bias" : ""));
    uint64_t bytes = 0;
    for (const ModelTensor& t : model.tensors()) bytes += t.bytes;
    line("parameters", fmt::format("{} ({}), {} of tensor data", model.parameter_count(),
                                   human_count(model.parameter_count()), human_bytes(bytes)));
    TokenizerSummary tok = summarize_tokenizer(model);
    if (tok.vocab_size == 0 && tok.model.empty()) {
        line("tokenizer", "none in this model");
    } else {
        auto special = [](int64_t id, const std::string& text) {
            if (id < 0) return std::string("none");
            return text.empty() ? fmt::format("{}", id) : fmt::format("{} \"{}\"", id, text);
        };
        line("tokenizer",
             fmt::format("{}{}, {} tokens, bos {}, eos {}, chat template {}", tok.model,
                         tok.pre.empty() ? "" : " (pre " + tok.pre + ")", tok.vocab_size,
                         special(tok.bos_id, tok.bos_text), special(tok.eos_id, tok.eos_text),
                         tok.has_chat_template ? "yes" : "no"));
    }
    if (d.mobiquant)
        for (const auto& [key, value] : model.gguf()->metadata())
            if (key.rfind("mobiquant.", 0) == 0) line("", key + " = " + value.to_display());
    if (list_tensors) {
        size_t width = 4;
        for (const ModelTensor& t : model.tensors()) width = std::max(width, t.name.size());
        out += fmt::format("\ntensors ({}):\n  {:<{}}  {:<18}  {:<7}  {:>12}\n",
                           model.tensors().size(), "name", width, "shape", "type", "bytes");
        for (const ModelTensor& t : model.tensors())
            out += fmt::format("  {:<{}}  {:<18}  {:<7}  {:>12}\n", t.name, width, t.shape_string(),
                               t.type, t.bytes);
    }
    return out;
}

}  // namespace mq
