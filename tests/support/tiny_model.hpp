#pragma once
// Small randomly initialised LLaMA-family models written to GGUF for the runtime tests, with
// llama.cpp's metadata keys and tensor names and a small SentencePiece-style "llama" vocabulary
// (<unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, then "▁", letters and merged pieces such
// as "▁the"), so that ModelWeights, the tokenizer and the forward passes all load it.
//
// The output is bit-exact deterministic for a spec: weights come from an integer generator
// (splitmix64, a sum of four 16-bit uniforms as an approximate normal) scaled by one float
// multiply, so the committed oracle fixtures (tests/runtime_ref/fixtures) stay valid on every
// machine. The fixtures record the file's FNV-1a hash to catch any change of the generator.
//
// Scales: embeddings and the untied output head ~ N(0, 0.5^2) (logits spread over a few units:
// neither uniform nor one-hot), linears ~ N(0, 1/in) (unit-variance outputs, attention that is
// not flat), norm weights 1 + N(0, 0.1^2), biases N(0, 0.1^2).
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace mq::test {

struct TinyModelSpec {
    std::string arch = "llama";  // "llama" (GGUF rope layout normal) or "qwen2" (neox)
    uint32_t vocab = 300, dim = 64, n_layers = 2, n_heads = 4, n_kv_heads = 2, ffn = 160,
             context = 128;
    bool tied = true;       // no output.weight: the head shares token_embd
    bool qkv_bias = false;  // q/k/v biases (always written for qwen2, which requires them)
    // llama3 rope scaling (factor 8, low 1, high 4, original context 64 so that every branch of
    // the factor formula is used at these tiny sizes), stored as llama.cpp does: the
    // rope_freqs.weight tensor of per-pair frequency divisors.
    bool llama3_rope_scaling = false;
    uint32_t seed = 1;

    // A file name that differs for every spec, e.g. "tiny-llama-v300-d64-l2-h4-kv2-f160-c128-
    // tied-s1.gguf".
    std::string file_name() const;
};

// Writes the model into dir (created if needed) and returns its path. vocab must be >= 260.
std::filesystem::path write_tiny_model(const TinyModelSpec& spec, const std::filesystem::path& dir);

// FNV-1a 64-bit hash of bytes (the fixtures record the hash of the generated file).
uint64_t fnv1a64(std::span<const std::byte> bytes);

}  // namespace mq::test
