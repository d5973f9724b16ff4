#pragma once
// One description of a LLaMA-family model, whether it comes from GGUF metadata or from a
// Hugging Face config.json, and the canonical tensor names and shapes it implies.
//
// Supported: "llama" (Llama 2/3/3.x incl. llama3 rope scaling, TinyLlama, SmolLM, Mistral
// without sliding window) and "qwen2" (q/k/v bias). Tensor names are GGUF's (token_embd.weight,
// blk.N.attn_q.weight, ...) and dims are in GGUF order: dims[0] is the row length (the input
// size of a linear), so an HF weight of shape [out, in] has dims {in, out} and the same bytes.
//
// Rotary layout (important for the runtime): llama.cpp's converter permutes the rows of
// q_proj/k_proj of "llama" models so that GGUF llama files rotate interleaved pairs
// (x[2i], x[2i+1]) -- RopeLayout::Normal. Hugging Face checkpoints (llama and qwen2) and GGUF
// qwen2 files are not permuted and rotate half-split pairs (x[i], x[i + head_dim/2]) --
// RopeLayout::Neox. The loader returns weights as stored and records which layout applies;
// rope_rows_neox_to_normal() converts HF q/k rows to GGUF llama order when writing a GGUF.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mq {

namespace gguf {
class File;
}

enum class RopeLayout { Normal, Neox };
const char* rope_layout_name(RopeLayout layout);  // "normal" / "neox"

enum class RopeScalingType { None, Linear, Llama3 };
const char* rope_scaling_name(RopeScalingType type);  // "none" / "linear" / "llama3"

struct RopeScaling {
    RopeScalingType type = RopeScalingType::None;
    float factor = 1.0f;
    float low_freq_factor = 1.0f;   // llama3
    float high_freq_factor = 4.0f;  // llama3
    uint32_t original_context = 0;  // llama3: original_max_position_embeddings
};

struct ModelDesc {
    std::string arch;    // "llama" or "qwen2"
    std::string name;    // general.name, or the directory name
    std::string source;  // "gguf" or "safetensors"
    uint32_t vocab_size = 0;
    uint32_t dim = 0;  // embedding length
    uint32_t n_layers = 0;
    uint32_t n_heads = 0;
    uint32_t n_kv_heads = 0;
    uint32_t head_dim = 0;
    uint32_t ffn_dim = 0;  // feed-forward hidden size
    uint32_t context_length = 0;
    uint32_t rope_dim = 0;  // rotated dimensions per head (= head_dim for this family)
    float rms_eps = 1e-5f;
    float rope_theta = 10000.0f;
    RopeScaling rope_scaling;
    RopeLayout rope_layout = RopeLayout::Neox;
    // Per rotary pair i (rope_dim / 2 entries): frequency theta^(-2i/rope_dim) is divided by
    // rope_freq_factors[i]. Filled for linear and llama3 scaling (from config.json, or from a
    // GGUF's rope_freqs.weight tensor); empty means no scaling.
    std::vector<float> rope_freq_factors;
    bool tied_output = false;  // output head shares token_embd
    bool qkv_bias = false;
    int64_t bos_id = -1, eos_id = -1;  // -1: not given
    bool mobiquant = false;            // a GGUF with mobiquant.* metadata

    // Frequency of each rotary pair i < rope_dim / 2, in double: theta^(-2i/rope_dim), divided by
    // rope_freq_factors[i] when present. One definition for every forward pass.
    std::vector<double> rope_frequencies(uint32_t rope_dim) const;

    uint32_t q_dim() const { return n_heads * head_dim; }
    uint32_t kv_dim() const { return n_kv_heads * head_dim; }
};

// "llama (Llama 2/3/3.x, TinyLlama, SmolLM, Mistral without sliding window), qwen2"
const char* supported_architectures();

// From GGUF metadata (general.architecture, <arch>.*, tokenizer.ggml.*). Tensor-derived facts
// (tied output, rope_freqs, biases, vocab size fallback) are read from the file's tensor list.
ModelDesc describe_gguf(const gguf::File& file);
// From a Hugging Face config.json (and generation_config.json for bos/eos when missing).
ModelDesc describe_hf_config(const nlohmann::json& config, const nlohmann::json* generation_config,
                             std::string name);

struct TensorSpec {
    std::string name;            // canonical (GGUF) name
    std::vector<uint64_t> dims;  // GGUF order
    bool required = true;
};
// Every tensor the description implies, in a stable order (embedding, layers, output).
std::vector<TensorSpec> expected_tensors(const ModelDesc& desc);

// Hugging Face tensor name -> canonical name; nullopt for names outside the map.
std::optional<std::string> canonical_from_hf(std::string_view hf_name);
std::string hf_from_canonical(std::string_view canonical);  // "" when none

// llama3 rope frequency factors (transformers' _compute_llama3_parameters).
std::vector<float> llama3_rope_freq_factors(const RopeScaling& scaling, float theta,
                                            uint32_t rope_dim);
// Reorders the rows of an HF q_proj/k_proj weight (or bias, row_len 1) from half-split (neox)
// to GGUF llama's interleaved order, exactly as llama.cpp's convert_hf_to_gguf.py permute().
std::vector<float> rope_rows_neox_to_normal(std::span<const float> rows, uint64_t row_len,
                                            uint32_t n_heads);

}  // namespace mq
