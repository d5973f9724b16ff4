#pragma once
// A LLaMA-family model's weights in memory, in the shapes the forward passes use (llama2.c
// style: every field with its shape). Linear weights are row-major [out][in] (= GGUF dims
// {in, out}); each linear can also hold its MoBiSlice form.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/model_desc.hpp"
#include "quant/mobislice.hpp"

namespace mq {
class LoadedModel;
}

namespace mq::rt {

struct RouterSet;

// The routed linears of a block, in the order depths are stored.
enum class Linear : uint32_t { Q, K, V, O, Gate, Up, Down };
constexpr uint32_t kLinearsPerLayer = 7;
const char* linear_name(Linear l);  // "q", "k", "v", "o", "gate", "up", "down"

struct LinearWeights {
    uint32_t rows = 0, cols = 0;                // out, in
    std::vector<float> dense;                   // [rows][cols], empty once dropped
    std::vector<float> bias;                    // [rows] or empty (qwen2 q/k/v)
    std::optional<quant::SlicedMatrix> sliced;  // MoBiSlice form, when quantized
};

struct LayerWeights {
    std::vector<float> attn_norm;                        // [dim]
    std::vector<float> ffn_norm;                         // [dim]
    std::array<LinearWeights, kLinearsPerLayer> linear;  // indexed by Linear
    LinearWeights& operator[](Linear l) { return linear[static_cast<uint32_t>(l)]; }
    const LinearWeights& operator[](Linear l) const { return linear[static_cast<uint32_t>(l)]; }
};

struct ModelWeights {
    ModelDesc desc;
    std::vector<float> token_embd;   // [vocab][dim]
    std::vector<float> output_norm;  // [dim]
    std::vector<float> output;       // [vocab][dim]; empty when tied to token_embd
    std::vector<LayerWeights> layers;
    // The routers and budget table of a MoBiQuant checkpoint (runtime/router.hpp); shared so
    // copies of the weights (bench, eval) do not duplicate them.
    std::shared_ptr<const RouterSet> routers;

    const std::vector<float>& output_weights() const {
        return output.empty() ? token_embd : output;
    }

    // Reads every tensor as f32 (dequantizing F16/BF16/Q8_0/Q4_0 as needed).
    static ModelWeights load(const LoadedModel& model);
    // For jobs that stream a model layer by layer (quantize): the description, the output norm,
    // the routers of a checkpoint and every linear's shape, but no embeddings, no output head
    // and no layer tensors (fill layers[l] with load_layer when it is needed, drop it after).
    static ModelWeights load_frame(const LoadedModel& model);
    // Layer l's norms, linears (dense f32, or the slices of a checkpoint) and biases.
    static LayerWeights load_layer(const LoadedModel& model, uint32_t layer);
    // Slices every linear with MoBiSlice (plain min/max clipping search unless options say more).
    void slice_all(const quant::SliceOptions& options = {});
    bool sliced() const;
    // The output head (output_weights()) as MoBiSlice planes, for an 8-bit head. Min/max per
    // group: at 8 bits a clipping search gains nothing measurable and would take minutes on a
    // 128k-token vocabulary.
    quant::SlicedMatrix slice_head() const;
};

// Depth per routed linear per layer for one token: 0 = dense weights, 1..4 = MoBiSlice depth.
using LayerDepths = std::array<uint8_t, kLinearsPerLayer>;
using TokenDepths = std::vector<LayerDepths>;  // [n_layers]

TokenDepths uniform_depths(uint32_t n_layers, uint8_t depth);

}  // namespace mq::rt
