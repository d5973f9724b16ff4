#pragma once
// The transformer forward on Vulkan (upload / prepare / forward, as in zeux/calm):
//  - construction uploads the weights: MoBiSlice planes when the model is sliced, fp32 otherwise;
//  - each batch size gets one plan and one recorded command sequence, reused for every step;
//  - a step writes tokens, positions and per-token depths into small persistent buffers, submits
//    once (the copies to and from a discrete GPU are recorded in the step) and reads the logits
//    back. No allocation and nothing else crosses to the CPU inside a step.
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "kernels/gpu_matrix.hpp"
#include "kernels/matmul_ops.hpp"
#include "kernels/profile.hpp"
#include "runtime/forward_backend.hpp"
#include "runtime/model_weights.hpp"
#include "runtime/weight_source.hpp"
#include "vulkan/command_sequence.hpp"
#include "vulkan/staged_buffer.hpp"

namespace mq::rt {

struct ForwardOptions {
    uint32_t max_context = 0;  // 0: the model's context length, capped at 2048
    uint32_t max_batch = 32;   // tokens per prefill submission
    // Storage of the unquantized linears and the output head (fp16: packed halves, read with
    // unpackHalf2x16; the embedding lookup stays fp32).
    kernels::WeightFormat dense_format = kernels::WeightFormat::F32;
    // The output head as MoBiSlice planes read at depth 4 (8-bit codes plus an fp16 scale and
    // zero per 128 weights: 8.25 bits, about half of fp16's bytes), sliced at load with
    // ModelWeights::slice_head. A 1B model's 128k-token head is most of what a token reads at
    // low depth.
    bool head_8bit = false;
    // The depth the sliced head is read at: 4 (8 bits, the default), 3 (6 bits) or 2 (4 bits,
    // llama.cpp's Q4_0 files' head).
    uint8_t head_depth = quant::kSlices;
    // Called during the upload with what is being done ("uploading layer 3 of 16, 1.2 GiB,
    // 4 s left"), for a status line.
    std::function<void(const std::string&)> progress;
};

// The sliced head's depth, checked (1..4).
uint32_t check_head_depth(uint32_t depth);

class VulkanForward : public ForwardBackend {
  public:
    // Refuses, before allocating or reading anything, a model whose estimated device memory
    // (estimate_forward_memory) does not fit the device, the memory budget or, where device
    // memory is host memory, the available RAM. The weights are uploaded matrix by matrix, a
    // block of rows at a time, from `source`.
    VulkanForward(vk::Context& ctx, const WeightSource& source, ForwardOptions options = {});
    VulkanForward(vk::Context& ctx, const ModelWeights& weights, ForwardOptions options = {});
    ~VulkanForward() override;

    // Runs tokens at positions start_pos .. start_pos + n - 1 (the cache must hold 0 .. start_pos
    // - 1), batching them by max_batch. depths[i] is token i's depth per layer and linear; ignored
    // for an unquantized model. Returns the logits of every token ([n][vocab]) when all_logits,
    // else of the last token only.
    std::vector<float> forward(std::span<const uint32_t> tokens, uint32_t start_pos,
                               std::span<const TokenDepths> depths,
                               bool all_logits = false) override;
    // The same with depths chosen on the GPU by the checkpoint's routers: thresholds has one
    // entry per routed linear (layer * 7 + linear, from RouterSet::table). The depths each token
    // used are appended to *used when given.
    std::vector<float> forward_routed(std::span<const uint32_t> tokens, uint32_t start_pos,
                                      std::span<const float> thresholds, bool all_logits = false,
                                      std::vector<TokenDepths>* used = nullptr) override;
    bool routed() const override { return routed_; }  // the weights carry routers

    // Several sequences decoding together. reserve_slots gives each of `slots` sequences its own
    // KV cache region of slot_context positions (apart from forward()'s cache). forward_multi
    // then runs one step over tokens of any of them: token i goes to position positions[i] of
    // slot slots[i] (that slot's positions before it must be filled, by this or an earlier
    // step). Depths: depths[i] per token; or, when thresholds is not empty, the routers choose
    // with token i's own row of thresholds (thresholds[i * n + k], n = layers * 7). A token's
    // result does not depend on the other tokens of the step: the mat-mat kernels run even for
    // one token, so a sequence decodes the same alone or batched; a step is padded to a power
    // of two tokens, so only a few plans are ever compiled. Returns the logits of the
    // tokens listed in logit_rows ([logit_rows.size()][vocab]); the depths every token used are
    // appended to *used when given. At most max_batch tokens per step.
    void reserve_slots(uint32_t slots, uint32_t slot_context) override;
    std::vector<float> forward_multi(std::span<const uint32_t> tokens,
                                     std::span<const uint32_t> positions,
                                     std::span<const uint32_t> slots,
                                     std::span<const TokenDepths> depths,
                                     std::span<const float> thresholds,
                                     std::span<const uint32_t> logit_rows,
                                     std::vector<TokenDepths>* used = nullptr) override;
    uint32_t slots() const override { return n_slots_; }
    uint32_t slot_context() const override { return slot_context_; }
    uint32_t max_batch() const override { return max_batch_; }

    uint32_t max_context() const override { return context_; }
    bool quantized() const override { return sliced_; }
    const ModelDesc& desc() const override { return desc_; }
    // Weight bytes one decode step reads at a uniform depth (0 = unquantized weights).
    uint64_t weight_bytes_per_token(uint32_t depth) const override;
    // Bytes of weights uploaded to the device (all formats, routers and norms included).
    uint64_t uploaded_weight_bytes() const override { return uploaded_bytes_; }

  private:
    struct Linear;
    struct Layer;
    struct Step;
    class PlanBuilder;  // runtime/forward_plan.cpp
    Step& step_for(uint32_t tokens, bool routed, bool multi = false);
    kernels::Plan build_plan(uint32_t tokens, bool routed, bool multi = false);
    void write_depths(std::span<const TokenDepths> depths);
    void read_depths(uint32_t tokens, std::vector<TokenDepths>& used) const;
    // depths (one set per token) or, when routed, the depths the routers chose are written to
    // *used.
    void run_batch(std::span<const uint32_t> tokens, uint32_t pos,
                   std::span<const TokenDepths> depths, bool routed, float* logits_out,
                   bool all_logits, std::vector<TokenDepths>* used);
    std::vector<float> run(std::span<const uint32_t> tokens, uint32_t start_pos,
                           std::span<const TokenDepths> depths, bool routed, bool all_logits,
                           std::vector<TokenDepths>* used);

    vk::Context& ctx_;
    ModelDesc desc_;
    uint32_t context_, max_batch_;
    bool sliced_, routed_ = false;
    std::unique_ptr<kernels::KernelLibrary> lib_;
    std::unique_ptr<kernels::MatMulOps> ops_;
    std::vector<Layer> layers_;
    std::unique_ptr<kernels::GpuDenseMatrix> embedding_, output_;
    std::unique_ptr<kernels::GpuSlicedMatrix> sliced_output_;  // head_8bit
    vk::Buffer head_depths_;  // max_batch entries of the depth sliced_output_ is read at
    uint32_t head_depth_ = quant::kSlices;
    vk::Buffer output_norm_, inv_freq_;
    // Activations for max_batch tokens, rows padded to a multiple of 128 floats.
    vk::Buffer x_, h_, q_, k_, v_, att_, tmp_, gate_, up_;
    // What crosses to and from the host each step (copied inside the step where the device
    // memory is not mapped): inputs, the logits and the depths the routers chose.
    vk::StagedBuffer tokens_, params_, depths_, thresholds_, logits_;
    uint32_t router_hidden_ = 0;
    std::map<std::pair<uint32_t, bool>, std::unique_ptr<Step>> steps_;  // (tokens, routed)
    // forward_multi: the slots' KV regions per layer, (row of position 0, position) per token,
    // and one row of router thresholds per token.
    uint32_t n_slots_ = 0, slot_context_ = 0;
    std::vector<vk::Buffer> slot_kcache_, slot_vcache_;
    vk::StagedBuffer token_slots_, token_thresholds_;
    std::map<std::pair<uint32_t, bool>, std::unique_ptr<Step>> multi_steps_;
    uint64_t uploaded_bytes_ = 0;
    std::unique_ptr<kernels::DispatchProfile> profile_;  // MOBIQUANT_PROFILE=1: GPU time per kernel
};

}  // namespace mq::rt
