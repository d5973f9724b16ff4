#pragma once
// What the runtime asks of a forward pass, whichever hardware runs it: VulkanForward (a Vulkan
// device) or CpuForward (the CPU's cores). PolicyForward, the generator, perplexity, the batch
// scheduler, bench and eval take this interface; make_forward (runtime/forward_factory.hpp)
// builds one for a device.
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::rt {

// What a forward_multi step is asked, checked the same way by every backend: fails with a
// clear message on a malformed step and returns whether its depths come from the routers.
struct MultiStepShape {
    uint32_t max_batch = 0, slots_reserved = 0;
    bool sliced = false, has_routers = false;
};
bool check_multi_step(const ModelDesc& d, const MultiStepShape& backend, size_t tokens,
                      size_t positions, size_t slots, size_t depths, size_t thresholds);

class ForwardBackend {
  public:
    virtual ~ForwardBackend() = default;

    // Runs tokens at positions start_pos .. start_pos + n - 1 (the cache must hold 0 .. start_pos
    // - 1). depths[i] is token i's depth per layer and linear; ignored for an unquantized model.
    // Returns the logits of every token ([n][vocab]) when all_logits, else of the last token.
    virtual std::vector<float> forward(std::span<const uint32_t> tokens, uint32_t start_pos,
                                       std::span<const TokenDepths> depths,
                                       bool all_logits = false) = 0;
    // The same with depths chosen by the checkpoint's routers: thresholds has one entry per
    // routed linear (layer * 7 + linear, from RouterSet::table). The depths each token used are
    // appended to *used when given.
    virtual std::vector<float> forward_routed(std::span<const uint32_t> tokens, uint32_t start_pos,
                                              std::span<const float> thresholds,
                                              bool all_logits = false,
                                              std::vector<TokenDepths>* used = nullptr) = 0;
    virtual bool routed() const = 0;  // the weights carry routers

    // Several sequences decoding together, each in its own KV cache region of slot_context
    // positions (apart from forward()'s cache). Token i goes to position positions[i] of slot
    // slots[i]; depths per token, or, when thresholds is not empty, the routers choose with
    // token i's own row of thresholds (thresholds[i * n + k], n = layers * 7). A token's result
    // does not depend on the other tokens of the step (VulkanForward: bit for bit; CpuForward:
    // up to fp32 summation order, its products' kernels tile one token and many differently:
    // 2e-7 of the largest logit measured). Returns the logits of the tokens listed in
    // logit_rows; the depths every token used are appended to *used when given. At most
    // max_batch() tokens per step.
    virtual void reserve_slots(uint32_t slots, uint32_t slot_context) = 0;
    virtual std::vector<float> forward_multi(std::span<const uint32_t> tokens,
                                             std::span<const uint32_t> positions,
                                             std::span<const uint32_t> slots,
                                             std::span<const TokenDepths> depths,
                                             std::span<const float> thresholds,
                                             std::span<const uint32_t> logit_rows,
                                             std::vector<TokenDepths>* used = nullptr) = 0;
    virtual uint32_t slots() const = 0;
    virtual uint32_t slot_context() const = 0;
    virtual uint32_t max_batch() const = 0;

    virtual uint32_t max_context() const = 0;
    virtual bool quantized() const = 0;
    virtual const ModelDesc& desc() const = 0;
    // Weight bytes one decode step reads at a uniform depth (0 = unquantized weights).
    virtual uint64_t weight_bytes_per_token(uint32_t depth) const = 0;
    // Bytes of weights the forward holds (all formats, routers and norms included).
    virtual uint64_t uploaded_weight_bytes() const = 0;
};

}  // namespace mq::rt
