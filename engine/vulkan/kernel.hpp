#pragma once
// One compute pipeline made from an embedded SPIR-V module, with its descriptor-set layout, push
// constants and specialization constants, plus the descriptor sets bound to it.
#include <vulkan/vulkan.h>

#include <string>
#include <vector>

#include "vulkan/buffer.hpp"

namespace mq::vk {

class Context;

struct KernelSpec {
    std::string shader;                      // name of the embedded shader (see shaders/*.cmake)
    std::vector<VkDescriptorType> bindings;  // binding i has type bindings[i]
    uint32_t push_constant_bytes = 0;
    std::vector<uint32_t> spec_constants;  // constant_id i gets spec_constants[i]
};

class Kernel {
  public:
    Kernel(Context& ctx, KernelSpec spec);
    ~Kernel();
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    // A descriptor set holding `ranges` (one per binding, in order). It lives as long as the
    // kernel, so command sequences recorded once can keep using it. Checks every range against
    // the device's limits and alignments.
    VkDescriptorSet bind(const std::vector<BufferRange>& ranges);

    VkPipeline pipeline() const { return pipeline_; }
    VkPipelineLayout layout() const { return layout_; }
    const KernelSpec& spec() const { return spec_; }

  private:
    void add_pool();
    Context& ctx_;
    KernelSpec spec_;
    VkShaderModule module_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
    std::vector<VkDescriptorPool> pools_;
    uint32_t sets_in_last_pool_ = 0;
};

}  // namespace mq::vk
