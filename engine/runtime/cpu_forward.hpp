#pragma once
// The transformer forward on the CPU's cores, for machines without a GPU (where
// Vulkan would run on lavapipe). The same model and semantics as the reference
// forward and VulkanForward:
//  - routed linears as MoBiSlice planes read at each token's depth
//  (cpu::sliced_matmul, with the
//    activations quantized to int8 per 16 values, outliers kept in fp32), or dense fp32/fp16
//    (cpu::dense_matmul);
//  - the routers run on the CPU on each linear's fp32 input
//  (runtime/router.hpp) with the rule
//    of the GPU router shader;
//  - one persistent cpu::ThreadPool does every parallel loop; activations for
//  max_batch tokens
//    are allocated once.
// The step runs the tokens of a batch together through each layer, so a prefill
// reads each weight once per batch, and only the logits that are asked for go
// through the output head.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpu/activations.hpp"
#include "cpu/dense_matrix.hpp"
#include "cpu/sliced_matrix.hpp"
#include "cpu/thread_pool.hpp"
#include "kernels/profile.hpp"
#include "runtime/cpu_attention.hpp"
#include "runtime/forward_backend.hpp"
#include "runtime/vulkan_forward.hpp"  // ForwardOptions
#include "runtime/weight_source.hpp"

namespace mq::rt {

struct Router;
struct RouterSet;

class CpuForward final : public ForwardBackend {
  public:
    // threads: 0 = every physical core. The weights are read matrix by matrix
    // from `source`.
    CpuForward(const WeightSource& source, ForwardOptions options = {}, unsigned threads = 0);
    CpuForward(const ModelWeights& weights, ForwardOptions options = {}, unsigned threads = 0);
    ~CpuForward() override;

    std::vector<float> forward(std::span<const uint32_t> tokens, uint32_t start_pos,
                               std::span<const TokenDepths> depths,
                               bool all_logits = false) override;
    std::vector<float> forward_routed(std::span<const uint32_t> tokens, uint32_t start_pos,
                                      std::span<const float> thresholds, bool all_logits = false,
                                      std::vector<TokenDepths>* used = nullptr) override;
    bool routed() const override { return routers_ != nullptr; }

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
    uint64_t weight_bytes_per_token(uint32_t depth) const override;
    uint64_t uploaded_weight_bytes() const override { return weight_bytes_; }
    unsigned threads() const { return pool_->size(); }

  private:
    struct Linear {
        std::optional<cpu::SlicedMatrixCpu> sliced;
        std::optional<cpu::DenseMatrixCpu> dense;
        std::vector<float> bias;
        const Router* router = nullptr;
    };
    struct Layer {
        std::vector<float> attn_norm, ffn_norm;
        std::array<Linear, kLinearsPerLayer> linear;
    };
    // How the tokens of a step choose their depths: given per token, by the
    // routers with a row of thresholds (shared, or one per token), or none (dense
    // weights).
    struct DepthChoice {
        std::span<const TokenDepths> given;
        const float* thresholds = nullptr;
        uint32_t threshold_stride = 0;  // floats between tokens' rows (0: one row for all)
    };
    class Step;  // cpu_forward_step.cpp

    void run_step(std::span<const uint32_t> tokens, std::span<const KvPlace> places,
                  const DepthChoice& depths, std::span<const uint32_t> logit_rows, float* logits,
                  std::vector<TokenDepths>* used);
    std::vector<float> run(std::span<const uint32_t> tokens, uint32_t start_pos,
                           const DepthChoice& depths, bool all_logits,
                           std::vector<TokenDepths>* used);

    ModelDesc desc_;
    uint32_t context_ = 0, max_batch_ = 0;
    bool sliced_ = false;
    std::shared_ptr<const RouterSet> routers_;  // null unless the weights are routed
    std::unique_ptr<cpu::ThreadPool> pool_;
    std::vector<float> embedding_;  // [vocab][dim] fp32, for the lookup
    std::optional<cpu::DenseMatrixCpu> head_;
    std::optional<cpu::SlicedMatrixCpu> sliced_head_;  // head_8bit: read at head_depth_
    uint8_t head_depth_ = quant::kSlices;
    std::vector<float> output_norm_;
    std::vector<double> rope_freq_;
    std::vector<Layer> layers_;
    KvCache cache_;  // forward()'s sequence
    uint32_t n_slots_ = 0, slot_context_ = 0;
    KvCache slot_cache_;  // forward_multi's sequences, slot_context rows each
    uint64_t weight_bytes_ = 0;
    std::unique_ptr<Step> step_;  // activation buffers for max_batch tokens
    // MOBIQUANT_PROFILE=1: the time of every part of the step, printed when the forward goes.
    std::unique_ptr<kernels::DispatchProfile> profile_;
};

}  // namespace mq::rt
