#include "formats/model_desc.hpp"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

#include "core/error.hpp"
#include "formats/gguf.hpp"

namespace mq {

namespace {

// Sizes beyond these are refused so that shape arithmetic cannot overflow.
constexpr uint64_t kMaxSize = 1u << 24;
constexpr uint64_t kMaxLayers = 1024;

constexpr const char* kSupported =
    "llama (Llama 2/3/3.x, TinyLlama, SmolLM, Mistral without sliding window), qwen2";

uint32_t checked_size(uint64_t v, std::string_view what, uint64_t max = kMaxSize) {
    if (v == 0 || v > max) fail("{} is {}, expected 1 to {}", what, v, max);
    return static_cast<uint32_t>(v);
}

// Shared by both sources: derives rope_dim and the rope frequency factors, then cross-checks.
void complete_and_check(ModelDesc& d, std::string_view origin) {
    if (d.n_heads % d.n_kv_heads != 0)
        fail("{}: {} attention heads are not a multiple of {} key/value heads", origin, d.n_heads,
             d.n_kv_heads);
    if (d.head_dim % 2 != 0)
        fail("{}: head size {} is odd (rotary needs pairs)", origin, d.head_dim);
    if (d.rope_dim == 0) d.rope_dim = d.head_dim;
    if (d.rope_dim != d.head_dim)
        fail(
            "{}: rotary dimension {} differs from the head size {} (partial rotary is not "
            "supported)",
            origin, d.rope_dim, d.head_dim);
    if (uint64_t{d.n_heads} * d.head_dim > kMaxSize)
        fail("{}: {} heads of {} is too large", origin, d.n_heads, d.head_dim);
    if (!(d.rms_eps > 0 && d.rms_eps < 1))
        fail("{}: rms epsilon {} is out of range", origin, d.rms_eps);
    if (!(d.rope_theta > 0 && std::isfinite(d.rope_theta)))
        fail("{}: rope theta {} is out of range", origin, d.rope_theta);
    const RopeScaling& s = d.rope_scaling;
    if (s.type != RopeScalingType::None && !(s.factor >= 1 && std::isfinite(s.factor)))
        fail("{}: rope scaling factor {} is out of range", origin, s.factor);
    if (s.type == RopeScalingType::Linear) d.rope_freq_factors.assign(d.rope_dim / 2, s.factor);
    if (s.type == RopeScalingType::Llama3 && d.rope_freq_factors.empty())
        d.rope_freq_factors = llama3_rope_freq_factors(s, d.rope_theta, d.rope_dim);
}

[[noreturn]] void unsupported_arch(std::string_view origin, std::string_view arch) {
    fail("{}: unsupported architecture '{}' (supported: {})", origin, arch, kSupported);
}

}  // namespace

const char* rope_layout_name(RopeLayout layout) {
    return layout == RopeLayout::Normal ? "normal" : "neox";
}

const char* rope_scaling_name(RopeScalingType type) {
    switch (type) {
        case RopeScalingType::Linear:
            return "linear";
        case RopeScalingType::Llama3:
            return "llama3";
        default:
            return "none";
    }
}

const char* supported_architectures() {
    return kSupported;
}

ModelDesc describe_gguf(const gguf::File& f) {
    ModelDesc d;
    d.source = "gguf";
    const std::string origin = fmt::format("gguf {}", f.name());
    d.arch = f.get_string("general.architecture");
    if (d.arch != "llama" && d.arch != "qwen2") unsupported_arch(origin, d.arch);
    const std::string p = d.arch + ".";
    auto size = [&](const std::string& key, std::optional<uint64_t> fallback = std::nullopt,
                    uint64_t max = kMaxSize) {
        const gguf::Value* v = f.find(key);
        if (v && v->is_array())
            fail(
                "{}: key '{}' is a per-layer array (different layers of different sizes are "
                "not supported)",
                origin, key);
        if (!v && !fallback) fail("{}: key '{}' is missing", origin, key);
        return checked_size(v ? f.get_uint(key) : *fallback,
                            fmt::format("{}: key '{}'", origin, key), max);
    };
    d.name = f.get_string_or("general.name", "");
    d.dim = size(p + "embedding_length");
    d.n_layers = size(p + "block_count", std::nullopt, kMaxLayers);
    d.ffn_dim = size(p + "feed_forward_length");
    d.n_heads = size(p + "attention.head_count");
    d.n_kv_heads = size(p + "attention.head_count_kv", d.n_heads);
    d.head_dim = size(p + "attention.key_length", d.dim / d.n_heads);
    if (size(p + "attention.value_length", d.head_dim) != d.head_dim)
        fail("{}: key '{}attention.value_length' differs from the key length", origin, p);
    d.rope_dim = size(p + "rope.dimension_count", d.head_dim);
    d.context_length = size(p + "context_length", std::nullopt, uint64_t{1} << 30);
    d.rms_eps = static_cast<float>(f.get_float(p + "attention.layer_norm_rms_epsilon"));
    d.rope_theta = static_cast<float>(f.get_float_or(p + "rope.freq_base", 10000.0));

    // Vocabulary: the explicit key, else the token list, else the embedding's shape.
    if (f.has(p + "vocab_size")) {
        d.vocab_size = size(p + "vocab_size");
    } else if (f.has("tokenizer.ggml.tokens")) {
        d.vocab_size = checked_size(f.get_array_size("tokenizer.ggml.tokens"),
                                    origin + ": key 'tokenizer.ggml.tokens' length");
    } else if (const gguf::TensorInfo* e = f.find_tensor("token_embd.weight");
               e && e->dims.size() == 2) {
        d.vocab_size = checked_size(e->dims[1], origin + ": token_embd.weight vocabulary size");
    } else {
        fail(
            "{}: cannot tell the vocabulary size (no '{}vocab_size', no tokenizer.ggml.tokens, no "
            "token_embd.weight)",
            origin, p);
    }

    std::string scaling = f.get_string_or(p + "rope.scaling.type", "none");
    if (scaling == "linear") {
        d.rope_scaling.type = RopeScalingType::Linear;
        d.rope_scaling.factor = static_cast<float>(f.get_float(p + "rope.scaling.factor"));
    } else if (scaling != "none") {
        fail(
            "{}: key '{}rope.scaling.type' is '{}' (supported: none, linear, llama3 through "
            "rope_freqs.weight)",
            origin, p, scaling);
    } else if (auto legacy = f.find_float(p + "rope.scale_linear"); legacy && *legacy != 1.0) {
        d.rope_scaling.type = RopeScalingType::Linear;
        d.rope_scaling.factor = static_cast<float>(*legacy);
    }
    if (const gguf::TensorInfo* rf = f.find_tensor("rope_freqs.weight")) {
        // llama.cpp stores llama3 scaling as precomputed per-pair factors.
        if (rf->n_elements() != d.rope_dim / 2)
            fail("{}: tensor 'rope_freqs.weight' has {} entries, expected {} (rope dimension / 2)",
                 origin, rf->n_elements(), d.rope_dim / 2);
        d.rope_freq_factors = f.tensor_to_f32(*rf);
        d.rope_scaling.type = RopeScalingType::Llama3;
        float max_factor = 1;
        for (float x : d.rope_freq_factors) max_factor = std::max(max_factor, x);
        d.rope_scaling.factor =
            static_cast<float>(f.get_float_or(p + "rope.scaling.factor", max_factor));
        d.rope_scaling.original_context =
            static_cast<uint32_t>(f.get_uint_or(p + "rope.scaling.original_context_length", 0));
    }

    d.rope_layout = d.arch == "llama" ? RopeLayout::Normal : RopeLayout::Neox;
    d.tied_output = f.find_tensor("output.weight") == nullptr;
    d.qkv_bias = d.arch == "qwen2" || f.find_tensor("blk.0.attn_q.bias") != nullptr;
    d.bos_id = f.get_int_or("tokenizer.ggml.bos_token_id", -1);
    d.eos_id = f.get_int_or("tokenizer.ggml.eos_token_id", -1);
    for (const auto& [key, value] : f.metadata())
        if (key.rfind("mobiquant.", 0) == 0) d.mobiquant = true;
    complete_and_check(d, origin);
    return d;
}

namespace {

const nlohmann::json* member(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

uint64_t config_uint(const nlohmann::json& c, const char* key, std::optional<uint64_t> fallback) {
    const nlohmann::json* v = member(c, key);
    if (!v) {
        if (!fallback) fail("config.json: '{}' is missing", key);
        return *fallback;
    }
    if (!v->is_number_unsigned())
        fail("config.json: '{}' is {}, expected a positive integer", key, v->dump());
    return v->get<uint64_t>();
}

double config_float(const nlohmann::json& c, const char* key, std::optional<double> fallback) {
    const nlohmann::json* v = member(c, key);
    if (!v) {
        if (!fallback) fail("config.json: '{}' is missing", key);
        return *fallback;
    }
    if (!v->is_number()) fail("config.json: '{}' is {}, expected a number", key, v->dump());
    return v->get<double>();
}

// bos_token_id / eos_token_id may be an integer or a list (the first is the main one).
int64_t token_id(const nlohmann::json& c, const char* key) {
    const nlohmann::json* v = member(c, key);
    if (v && v->is_array() && !v->empty()) v = &(*v)[0];
    if (v && v->is_number_integer()) return v->get<int64_t>();
    return -1;
}

}  // namespace

ModelDesc describe_hf_config(const nlohmann::json& c, const nlohmann::json* generation_config,
                             std::string name) {
    if (!c.is_object()) fail("config.json: not a JSON object");
    ModelDesc d;
    d.source = "safetensors";
    d.name = std::move(name);
    std::string model_type;
    if (const auto* mt = member(c, "model_type"); mt && mt->is_string())
        model_type = mt->get<std::string>();
    if (model_type.empty())
        if (const auto* a = member(c, "architectures");
            a && a->is_array() && !a->empty() && (*a)[0].is_string())
            model_type = (*a)[0].get<std::string>();
    if (model_type.empty()) fail("config.json: neither 'model_type' nor 'architectures' is given");
    if (model_type == "llama" || model_type == "LlamaForCausalLM" || model_type == "mistral" ||
        model_type == "MistralForCausalLM") {
        d.arch = "llama";
    } else if (model_type == "qwen2" || model_type == "Qwen2ForCausalLM") {
        d.arch = "qwen2";
    } else {
        unsupported_arch("config.json", model_type);
    }
    auto size = [&](const char* key, std::optional<uint64_t> fallback = std::nullopt,
                    uint64_t max = kMaxSize) {
        return checked_size(config_uint(c, key, fallback), fmt::format("config.json: '{}'", key),
                            max);
    };
    d.vocab_size = size("vocab_size");
    d.dim = size("hidden_size");
    d.ffn_dim = size("intermediate_size");
    d.n_layers = size("num_hidden_layers", std::nullopt, kMaxLayers);
    d.n_heads = size("num_attention_heads");
    d.n_kv_heads = size("num_key_value_heads", d.n_heads);
    d.head_dim = size("head_dim", d.dim / d.n_heads);
    d.rope_dim = d.head_dim;
    d.context_length = size("max_position_embeddings", std::nullopt, uint64_t{1} << 30);
    d.rms_eps = static_cast<float>(config_float(c, "rms_norm_eps", 1e-6));
    d.rope_theta = static_cast<float>(config_float(c, "rope_theta", 10000.0));
    d.tied_output = member(c, "tie_word_embeddings") && c["tie_word_embeddings"].is_boolean()
                        ? c["tie_word_embeddings"].get<bool>()
                        : false;
    d.qkv_bias = d.arch == "qwen2";
    for (const char* key : {"attention_bias", "mlp_bias"})
        if (const auto* v = member(c, key); v && v->is_boolean() && v->get<bool>())
            fail("config.json: '{}' is true (biases on o_proj / the MLP are not supported)", key);
    // Mistral v0.1 and some Qwen2 configs use sliding-window attention, which we do not run.
    const auto* window = member(c, "sliding_window");
    const auto* use_window = member(c, "use_sliding_window");
    bool windowed = d.arch == "qwen2"
                        ? use_window && use_window->is_boolean() && use_window->get<bool>()
                        : window && window->is_number() && window->get<double>() < d.context_length;
    if (windowed)
        fail("config.json: sliding window attention ('sliding_window' = {}) is not supported",
             window ? window->dump() : "null");
    if (const auto* rs = member(c, "rope_scaling")) {
        if (!rs->is_object()) fail("config.json: 'rope_scaling' is not an object");
        std::string type;
        for (const char* key : {"rope_type", "type"})
            if (const auto* t = member(*rs, key); t && t->is_string() && type.empty())
                type = t->get<std::string>();
        if (type == "llama3") {
            d.rope_scaling.type = RopeScalingType::Llama3;
            d.rope_scaling.factor = static_cast<float>(config_float(*rs, "factor", std::nullopt));
            d.rope_scaling.low_freq_factor =
                static_cast<float>(config_float(*rs, "low_freq_factor", 1.0));
            d.rope_scaling.high_freq_factor =
                static_cast<float>(config_float(*rs, "high_freq_factor", 4.0));
            d.rope_scaling.original_context = checked_size(
                config_uint(*rs, "original_max_position_embeddings", 8192),
                "config.json: rope_scaling 'original_max_position_embeddings'", uint64_t{1} << 30);
            if (!(d.rope_scaling.high_freq_factor > d.rope_scaling.low_freq_factor &&
                  d.rope_scaling.low_freq_factor > 0))
                fail("config.json: rope_scaling needs 0 < low_freq_factor < high_freq_factor");
        } else if (type == "linear") {
            d.rope_scaling.type = RopeScalingType::Linear;
            d.rope_scaling.factor = static_cast<float>(config_float(*rs, "factor", std::nullopt));
        } else if (type != "default") {
            fail("config.json: rope_scaling type '{}' is not supported (supported: linear, llama3)",
                 type);
        }
    }
    d.rope_layout = RopeLayout::Neox;  // HF checkpoints are not permuted (see the header)
    d.bos_id = token_id(c, "bos_token_id");
    d.eos_id = token_id(c, "eos_token_id");
    if (generation_config && generation_config->is_object()) {
        if (d.bos_id < 0) d.bos_id = token_id(*generation_config, "bos_token_id");
        if (d.eos_id < 0) d.eos_id = token_id(*generation_config, "eos_token_id");
    }
    complete_and_check(d, "config.json");
    return d;
}

std::vector<TensorSpec> expected_tensors(const ModelDesc& d) {
    const uint64_t dim = d.dim, q = d.q_dim(), kv = d.kv_dim(), ffn = d.ffn_dim;
    const bool linears_required = !d.mobiquant;  // MoBiQuant files may store them as slices
    std::vector<TensorSpec> specs;
    specs.push_back({"token_embd.weight", {dim, d.vocab_size}});
    if (!d.rope_freq_factors.empty() && d.source == "gguf" &&
        d.rope_scaling.type == RopeScalingType::Llama3)
        specs.push_back({"rope_freqs.weight", {d.rope_dim / 2}});
    for (uint32_t i = 0; i < d.n_layers; ++i) {
        auto blk = [&](const char* name) { return fmt::format("blk.{}.{}", i, name); };
        specs.push_back({blk("attn_norm.weight"), {dim}});
        specs.push_back({blk("attn_q.weight"), {dim, q}, linears_required});
        specs.push_back({blk("attn_k.weight"), {dim, kv}, linears_required});
        specs.push_back({blk("attn_v.weight"), {dim, kv}, linears_required});
        if (d.qkv_bias) {
            specs.push_back({blk("attn_q.bias"), {q}});
            specs.push_back({blk("attn_k.bias"), {kv}});
            specs.push_back({blk("attn_v.bias"), {kv}});
        }
        specs.push_back({blk("attn_output.weight"), {q, dim}, linears_required});
        specs.push_back({blk("ffn_norm.weight"), {dim}});
        specs.push_back({blk("ffn_gate.weight"), {dim, ffn}, linears_required});
        specs.push_back({blk("ffn_up.weight"), {dim, ffn}, linears_required});
        specs.push_back({blk("ffn_down.weight"), {ffn, dim}, linears_required});
    }
    specs.push_back({"output_norm.weight", {dim}});
    if (!d.tied_output) specs.push_back({"output.weight", {dim, d.vocab_size}});
    return specs;
}

namespace {

struct NamePair {
    const char* hf;         // after "model.layers.N."
    const char* canonical;  // after "blk.N."
};
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
constexpr NamePair kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// "<prefix><digits>.<rest>" -> (layer, rest)
std::optional<std::pair<uint32_t, std::string_view>> split_layer(std::string_view name,
                                                                 std::string_view prefix) {
    if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
    name.remove_prefix(prefix.size());
    size_t dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot > 6) return std::nullopt;
    uint32_t layer = 0;
    for (char ch : name.substr(0, dot)) {
        if (ch < '0' || ch > '9') return std::nullopt;
        layer = layer * 10 + static_cast<uint32_t>(ch - '0');
    }
    return std::pair{layer, name.substr(dot + 1)};
}

}  // namespace

std::optional<std::string> canonical_from_hf(std::string_view hf) {
    for (const NamePair& n : kGlobalNames)
        if (hf == n.hf) return std::string(n.canonical);
    if (auto layer = split_layer(hf, "model.layers."))
        for (const NamePair& n : kLayerNames)
            if (layer->second == n.hf) return fmt::format("blk.{}.{}", layer->first, n.canonical);
    return std::nullopt;
}

std::string hf_from_canonical(std::string_view canonical) {
    for (const NamePair& n : kGlobalNames)
        if (canonical == n.canonical) return n.hf;
    if (auto layer = split_layer(canonical, "blk."))
        for (const NamePair& n : kLayerNames)
            if (layer->second == n.canonical)
                return fmt::format("model.layers.{}.{}", layer->first, n.hf);
    return "";
}

std::vector<float> llama3_rope_freq_factors(const RopeScaling& s, float theta, uint32_t rope_dim) {
    const double old_ctx = s.original_context ? s.original_context : 8192;
    const double low_wavelen = old_ctx / s.low_freq_factor;
    const double high_wavelen = old_ctx / s.high_freq_factor;
    std::vector<float> factors;
    for (uint32_t i = 0; i < rope_dim; i += 2) {
        double freq = 1.0 / std::pow(static_cast<double>(theta), static_cast<double>(i) / rope_dim);
        double wavelen = 2 * std::numbers::pi / freq;
        if (wavelen < high_wavelen) {
            factors.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            factors.push_back(s.factor);
        } else {
            double smooth =
                (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
            factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / s.factor + smooth)));
        }
    }
    return factors;
}

std::vector<float> rope_rows_neox_to_normal(std::span<const float> w, uint64_t row_len,
                                            uint32_t n_heads) {
    if (row_len == 0 || n_heads == 0 || w.size() % row_len != 0 ||
        (w.size() / row_len) % (2 * uint64_t{n_heads}) != 0)
        fail("rope permutation: {} values are not {} heads of even size with rows of {}", w.size(),
             n_heads, row_len);
    const uint64_t head_dim = w.size() / row_len / n_heads, half = head_dim / 2;
    std::vector<float> out(w.size());
    // GGUF row (h, 2i + j) = HF row (h, j * half + i): llama.cpp's reshape(n_head, 2,
    // half).swapaxes(1, 2)
    for (uint64_t h = 0; h < n_heads; ++h)
        for (uint64_t i = 0; i < half; ++i)
            for (uint64_t j = 0; j < 2; ++j) {
                const float* src = w.data() + (h * head_dim + j * half + i) * row_len;
                std::copy(src, src + row_len, out.data() + (h * head_dim + 2 * i + j) * row_len);
            }
    return out;
}

std::vector<double> ModelDesc::rope_frequencies(uint32_t dims) const {
    std::vector<double> freq(dims / 2);
    for (uint32_t i = 0; i < freq.size(); ++i) {
        freq[i] = std::pow(double(rope_theta), -2.0 * i / double(dims));
        if (!rope_freq_factors.empty()) freq[i] /= double(rope_freq_factors[i]);
    }
    return freq;
}

}  // namespace mq
