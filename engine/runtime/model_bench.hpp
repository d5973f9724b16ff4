#pragma once
// Prefill and decode speed of a forward (Vulkan or CPU) for the unquantized model and for uniform
// depths 1..4, with weight bytes read per second. Works on a model file or on random weights
// with the shapes of a real model (`synthetic_desc`).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/gpu_matrix.hpp"
#include "runtime/forward_factory.hpp"
#include "runtime/model_weights.hpp"

namespace mq::rt {

struct ModelBenchRow {
    std::string config;  // "f32", "f16", "depth1" .. "depth4"
    double prefill_tps = 0, decode_tps = 0, weight_gbs = 0;
    uint64_t weight_bytes_per_token = 0;
    double submits_per_token =
        0;  // queue submissions per decode step (1 is the design; 0 on the CPU)
};

struct ModelBenchOptions {
    uint32_t prefill_tokens = 64;
    uint32_t decode_tokens = 16;
    // Each row's prefill and decode are run this many times and the fastest kept: on a shared
    // machine the others' load comes and goes within a run.
    uint32_t repeats = 1;
    bool include_f32 = true;
    bool include_f16 = true;  // unquantized weights stored as fp16
    // The depth rows' output head: 8-bit MoBiSlice planes by default (ForwardOptions::head_8bit),
    // else dense in sliced_dense_format. A 1B model's 128k-token head in fp32 would be most of a
    // depth-1 token's bytes, and even in fp16 it is two thirds of them.
    bool sliced_head_8bit = true;
    uint8_t sliced_head_depth = 4;  // that head read at 8 bits, or 6 (3) or 4 (2)
    kernels::WeightFormat sliced_dense_format = kernels::WeightFormat::F16;
    std::function<void(const std::string&)> progress;
    // The slow CPU phases (slicing a 1B model takes minutes): work done so far of the total.
    std::function<void(const std::string& phase, uint64_t done, uint64_t total)> work_progress;
};

// Shapes of known models: "llama-3.2-1b", "llama-3.2-1b-32k" (its body with a 32000-token
// untied head), "qwen2.5-0.5b", "llama-3-8b", "tinyllama-1.1b", "smollm-135m", "default" (the
// bundled model's shape). nullopt for an unknown name.
std::optional<ModelDesc> synthetic_desc(const std::string& name);
std::string synthetic_names();
// progress(done, total) is called after each tensor with the weights generated so far (a 1B
// shape takes tens of seconds).
ModelWeights random_weights(const ModelDesc& desc, uint32_t seed = 1,
                            const std::function<void(uint64_t, uint64_t)>& progress = {});

// Consumes `weights` (slices them after the f32 run to save memory).
std::vector<ModelBenchRow> bench_model(const ComputeDevice& device, ModelWeights weights,
                                       const ModelBenchOptions& options);

}  // namespace mq::rt
