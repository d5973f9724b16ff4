#pragma once
// A tiny LLaMA-family model written by the tests in both forms: a Hugging Face directory
// (config.json + safetensors, single or sharded) and the equivalent GGUF (llama.cpp's names and
// metadata keys, q/k rows permuted for "llama" exactly as convert_hf_to_gguf.py does).
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/half.hpp"
#include "formats/gguf.hpp"
#include "formats/model_desc.hpp"
#include "formats/safetensors.hpp"

namespace tiny {

struct Spec {
    std::string arch = "llama";  // "llama" or "qwen2"
    uint32_t vocab = 96, dim = 32, layers = 2, heads = 4, kv_heads = 2, ffn = 48, ctx = 256;
    bool tied = false;
    float rope_theta = 10000.0f, rms_eps = 1e-5f;
    nlohmann::json rope_scaling = nullptr;
    int64_t bos = 1, eos = 2;
    uint32_t head_dim() const { return dim / heads; }
};

struct HfTensor {
    std::string name;
    std::vector<uint64_t> shape;  // HF order: [out, in]
    std::vector<float> values;
};

inline std::vector<float> pattern(size_t n, float seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = std::sin(seed * 1.37f + static_cast<float>(i) * 0.731f);
    return v;
}

inline std::vector<HfTensor> hf_tensors(const Spec& s) {
    std::vector<HfTensor> t;
    float seed = 1;
    auto add = [&](std::string name, std::vector<uint64_t> shape) {
        size_t n = 1;
        for (uint64_t d : shape) n *= d;
        t.push_back({std::move(name), shape, pattern(n, seed++)});
    };
    const uint64_t q = s.heads * s.head_dim(), kv = s.kv_heads * s.head_dim();
    add("model.embed_tokens.weight", {s.vocab, s.dim});
    for (uint32_t i = 0; i < s.layers; ++i) {
        std::string p = "model.layers." + std::to_string(i) + ".";
        add(p + "input_layernorm.weight", {s.dim});
        add(p + "self_attn.q_proj.weight", {q, s.dim});
        add(p + "self_attn.k_proj.weight", {kv, s.dim});
        add(p + "self_attn.v_proj.weight", {kv, s.dim});
        if (s.arch == "qwen2") {
            add(p + "self_attn.q_proj.bias", {q});
            add(p + "self_attn.k_proj.bias", {kv});
            add(p + "self_attn.v_proj.bias", {kv});
        }
        add(p + "self_attn.o_proj.weight", {s.dim, q});
        add(p + "post_attention_layernorm.weight", {s.dim});
        add(p + "mlp.gate_proj.weight", {s.ffn, s.dim});
        add(p + "mlp.up_proj.weight", {s.ffn, s.dim});
        add(p + "mlp.down_proj.weight", {s.dim, s.ffn});
    }
    add("model.norm.weight", {s.dim});
    if (!s.tied) add("lm_head.weight", {s.vocab, s.dim});
    return t;
}

inline nlohmann::json hf_config(const Spec& s) {
    nlohmann::json c = {
        {"architectures", {s.arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
        {"model_type", s.arch},
        {"vocab_size", s.vocab},
        {"hidden_size", s.dim},
        {"intermediate_size", s.ffn},
        {"num_hidden_layers", s.layers},
        {"num_attention_heads", s.heads},
        {"num_key_value_heads", s.kv_heads},
        {"max_position_embeddings", s.ctx},
        {"rms_norm_eps", s.rms_eps},
        {"rope_theta", s.rope_theta},
        {"tie_word_embeddings", s.tied},
        {"bos_token_id", s.bos},
        {"eos_token_id", s.eos},
        {"rope_scaling", s.rope_scaling},
        {"torch_dtype", "float32"},
    };
    return c;
}

// Values stored in `dtype` (F32, F16 or BF16); returns the bytes.
inline std::vector<std::byte> encode(const std::vector<float>& v, mq::safetensors::DType dtype) {
    std::vector<std::byte> out;
    if (dtype == mq::safetensors::DType::F32) {
        auto b = std::as_bytes(std::span<const float>(v));
        return {b.begin(), b.end()};
    }
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
        uint16_t h = dtype == mq::safetensors::DType::F16 ? mq::float_to_half(v[i])
                                                          : mq::float_to_bf16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

inline void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
    std::string text = j.dump(2);
    mq::write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

// shards == 1: model.safetensors; otherwise model-0000k-of-0000n.safetensors + index.
inline void write_hf_dir(const std::filesystem::path& dir, const Spec& s,
                         const std::vector<HfTensor>& tensors, int shards,
                         mq::safetensors::DType dtype = mq::safetensors::DType::F32) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    write_json(dir / "config.json", hf_config(s));
    std::vector<std::vector<std::byte>> encoded;
    for (const HfTensor& t : tensors) encoded.push_back(encode(t.values, dtype));
    nlohmann::json weight_map = nlohmann::json::object();
    for (int k = 0; k < shards; ++k) {
        std::vector<mq::safetensors::TensorToWrite> part;
        std::string file = shards == 1 ? "model.safetensors"
                                       : "model-0000" + std::to_string(k + 1) + "-of-0000" +
                                             std::to_string(shards) + ".safetensors";
        for (size_t i = k; i < tensors.size(); i += shards) {
            part.push_back({tensors[i].name, dtype, tensors[i].shape, encoded[i]});
            weight_map[tensors[i].name] = file;
        }
        mq::safetensors::write(dir / file, part, {{"format", "pt"}});
    }
    if (shards > 1)
        write_json(dir / "model.safetensors.index.json",
                   {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}});
}

// The GGUF llama.cpp's converter would make from the HF tensors.
inline mq::gguf::Writer gguf_writer(const Spec& s, const std::vector<HfTensor>& tensors,
                                    mq::safetensors::DType dtype = mq::safetensors::DType::F32) {
    mq::gguf::Writer w;
    const std::string a = s.arch + ".";
    w.set_string("general.architecture", s.arch);
    w.set_string("general.name", "tiny");
    w.set_u32(a + "context_length", s.ctx);
    w.set_u32(a + "embedding_length", s.dim);
    w.set_u32(a + "block_count", s.layers);
    w.set_u32(a + "feed_forward_length", s.ffn);
    w.set_u32(a + "attention.head_count", s.heads);
    w.set_u32(a + "attention.head_count_kv", s.kv_heads);
    w.set_u32(a + "rope.dimension_count", s.head_dim());
    w.set_f32(a + "rope.freq_base", s.rope_theta);
    w.set_f32(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
    w.set_u32(a + "vocab_size", s.vocab);
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(s.bos));
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(s.eos));
    if (s.rope_scaling.is_object() && s.rope_scaling.value("rope_type", "") == "linear") {
        w.set_string(a + "rope.scaling.type", "linear");
        w.set_f32(a + "rope.scaling.factor", s.rope_scaling["factor"].get<float>());
    }
    if (s.rope_scaling.is_object() && s.rope_scaling.value("rope_type", "") == "llama3") {
        mq::RopeScaling r;
        r.type = mq::RopeScalingType::Llama3;
        r.factor = s.rope_scaling["factor"];
        r.low_freq_factor = s.rope_scaling["low_freq_factor"];
        r.high_freq_factor = s.rope_scaling["high_freq_factor"];
        r.original_context = s.rope_scaling["original_max_position_embeddings"];
        w.add_tensor_f32("rope_freqs.weight", {s.head_dim() / 2},
                         mq::llama3_rope_freq_factors(r, s.rope_theta, s.head_dim()));
    }
    for (const HfTensor& t : tensors) {
        std::string name = *mq::canonical_from_hf(t.name);
        std::vector<float> v = t.values;
        bool q = name.find("attn_q.") != std::string::npos;
        bool k = name.find("attn_k.") != std::string::npos;
        if (s.arch == "llama" && (q || k))
            v = mq::rope_rows_neox_to_normal(v, t.shape.size() > 1 ? t.shape[1] : 1,
                                             q ? s.heads : s.kv_heads);
        std::vector<uint64_t> dims(t.shape.rbegin(), t.shape.rend());
        w.add_tensor(name, *mq::safetensors::ggml_type(dtype), dims, encode(v, dtype));
    }
    return w;
}

}  // namespace tiny
