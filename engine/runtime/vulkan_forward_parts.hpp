#pragma once
// What VulkanForward's own files share (vulkan_forward.cpp uploads and runs, forward_plan.cpp
// builds the plan of a step): the resident form of a layer and small dispatch helpers.
#include <array>
#include <bit>
#include <memory>

#include "runtime/vulkan_forward.hpp"

namespace mq::rt {

struct VulkanForward::Linear {
    std::unique_ptr<kernels::GpuSlicedMatrix> sliced;
    std::unique_ptr<kernels::GpuDenseMatrix> dense;
    vk::Buffer bias;
    bool has_bias = false;
    vk::Buffer router;  // packed w1, wa, b1, w2, b2 (shaders/router.comp)
};

struct VulkanForward::Layer {
    vk::Buffer attn_norm, ffn_norm, kcache, vcache;
    std::array<Linear, kLinearsPerLayer> linear;
};

namespace forward_detail {
constexpr VkDescriptorType kStorage = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
// Invocations per workgroup of the transformer shaders (their WG; cmake/Shaders.cmake).
constexpr uint32_t kWorkgroupSize = MQ_WORKGROUP_SIZE;
inline uint32_t div_up(uint32_t a, uint32_t b) {
    return (a + b - 1) / b;
}
inline uint32_t float_bits(float f) {
    return std::bit_cast<uint32_t>(f);
}
}  // namespace forward_detail

}  // namespace mq::rt
