#pragma once
// Helpers the Vulkan-forward tests share: the tiny models of every supported architecture,
// loaded as runtime weights, a deterministic prompt, and small logit utilities.
#include <algorithm>
#include <filesystem>
#include <span>
#include <vector>

#include "formats/model_loader.hpp"
#include "runtime/model_weights.hpp"
#include "support/tiny_model.hpp"

namespace mq::test {

inline rt::ModelWeights tiny_weights(const TinyModelSpec& spec) {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "mq_test_runtime";
    std::filesystem::create_directories(dir);
    return rt::ModelWeights::load(LoadedModel::open(write_tiny_model(spec, dir)));
}

// GQA with a tied head; untied with llama3 rope scaling; qwen2 with q/k/v biases.
inline std::vector<TinyModelSpec> architectures() {
    TinyModelSpec llama;
    TinyModelSpec untied;
    untied.tied = false;
    untied.llama3_rope_scaling = true;
    untied.n_kv_heads = 4;
    untied.seed = 2;
    TinyModelSpec qwen;
    qwen.arch = "qwen2";
    qwen.qkv_bias = true;
    qwen.seed = 3;
    return {llama, untied, qwen};
}

inline std::vector<uint32_t> prompt_ids(uint32_t n, uint32_t vocab) {
    std::vector<uint32_t> ids;
    for (uint32_t i = 0; i < n; ++i) ids.push_back((i * 37 + 11) % vocab);
    return ids;
}

inline std::vector<float> flatten(const std::vector<std::vector<float>>& rows) {
    std::vector<float> out;
    for (auto& r : rows) out.insert(out.end(), r.begin(), r.end());
    return out;
}

inline uint32_t argmax(std::span<const float> v) {
    return static_cast<uint32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace mq::test
