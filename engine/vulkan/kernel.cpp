#include "vulkan/kernel.hpp"

#include "vulkan/check.hpp"
#include "vulkan/context.hpp"
#include "vulkan/shader_registry.hpp"

namespace mq::vk {

namespace {
constexpr uint32_t kSetsPerPool = 64;

bool is_uniform(VkDescriptorType t) {
    return t == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER || t == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC;
}
}  // namespace

Kernel::Kernel(Context& ctx, KernelSpec spec) : ctx_(ctx), spec_(std::move(spec)) {
    VkDevice dev = ctx.device();
    std::span<const uint32_t> code = find_shader(spec_.shader);
    if (spec_.push_constant_bytes > ctx.info().max_push_constants_size)
        fail("kernel {} needs {} bytes of push constants; device allows {}", spec_.shader,
             spec_.push_constant_bytes, ctx.info().max_push_constants_size);

    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smci.codeSize = code.size_bytes();
    smci.pCode = code.data();
    VK_CHECK(vkCreateShaderModule(dev, &smci, nullptr, &module_));

    std::vector<VkDescriptorSetLayoutBinding> bindings;
    for (uint32_t i = 0; i < spec_.bindings.size(); ++i)
        bindings.push_back({i, spec_.bindings[i], 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr});
    VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dslci.bindingCount = static_cast<uint32_t>(bindings.size());
    dslci.pBindings = bindings.data();
    VK_CHECK(vkCreateDescriptorSetLayout(dev, &dslci, nullptr, &set_layout_));

    VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, spec_.push_constant_bytes};
    VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &set_layout_;
    plci.pushConstantRangeCount = spec_.push_constant_bytes ? 1 : 0;
    plci.pPushConstantRanges = &pcr;
    VK_CHECK(vkCreatePipelineLayout(dev, &plci, nullptr, &layout_));

    std::vector<VkSpecializationMapEntry> entries;
    for (uint32_t i = 0; i < spec_.spec_constants.size(); ++i)
        entries.push_back({i, static_cast<uint32_t>(i * sizeof(uint32_t)), sizeof(uint32_t)});
    VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(),
                            spec_.spec_constants.size() * sizeof(uint32_t),
                            spec_.spec_constants.data()};
    VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = module_;
    cpci.stage.pName = "main";
    cpci.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
    cpci.layout = layout_;
    VK_CHECK(vkCreateComputePipelines(dev, ctx.pipeline_cache(), 1, &cpci, nullptr, &pipeline_));
}

Kernel::~Kernel() {
    VkDevice dev = ctx_.device();
    for (auto pool : pools_) vkDestroyDescriptorPool(dev, pool, nullptr);
    vkDestroyPipeline(dev, pipeline_, nullptr);
    vkDestroyPipelineLayout(dev, layout_, nullptr);
    vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
    vkDestroyShaderModule(dev, module_, nullptr);
}

void Kernel::add_pool() {
    std::vector<VkDescriptorPoolSize> sizes;
    for (auto t : spec_.bindings) sizes.push_back({t, kSetsPerPool});
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.maxSets = kSetsPerPool;
    dpci.poolSizeCount = static_cast<uint32_t>(sizes.size());
    dpci.pPoolSizes = sizes.data();
    VkDescriptorPool pool;
    VK_CHECK(vkCreateDescriptorPool(ctx_.device(), &dpci, nullptr, &pool));
    pools_.push_back(pool);
    sets_in_last_pool_ = 0;
}

VkDescriptorSet Kernel::bind(const std::vector<BufferRange>& ranges) {
    if (ranges.size() != spec_.bindings.size())
        fail("kernel {} takes {} buffers, got {}", spec_.shader, spec_.bindings.size(),
             ranges.size());
    const DeviceInfo& info = ctx_.info();
    std::vector<VkDescriptorBufferInfo> infos(ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
        const BufferRange& r = ranges[i];
        if (!r.buffer || !r.buffer->handle())
            fail("kernel {}: binding {} has no buffer", spec_.shader, i);
        uint64_t range = r.range == VK_WHOLE_SIZE ? r.buffer->size() - r.offset : r.range;
        bool uniform = is_uniform(spec_.bindings[i]);
        uint64_t limit = uniform ? info.max_uniform_buffer_range : ctx_.max_storage_range();
        uint64_t align = uniform ? info.min_uniform_buffer_offset_alignment
                                 : info.min_storage_buffer_offset_alignment;
        if (range == 0 || r.offset + range > r.buffer->size())
            fail("kernel {}: binding {} range [{}, +{}) is outside its {}-byte buffer",
                 spec_.shader, i, r.offset, range, r.buffer->size());
        if (range > limit)
            fail(
                "kernel {}: binding {} needs {} bytes but the device binds at most {}; the "
                "tensor must be split",
                spec_.shader, i, range, limit);
        if (align && r.offset % align)
            fail("kernel {}: binding {} offset {} is not a multiple of {}", spec_.shader, i,
                 r.offset, align);
        infos[i] = {r.buffer->handle(), r.offset, range};
    }

    if (pools_.empty() || sets_in_last_pool_ == kSetsPerPool) add_pool();
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools_.back();
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &set_layout_;
    VkDescriptorSet set;
    VK_CHECK(vkAllocateDescriptorSets(ctx_.device(), &ai, &set));
    sets_in_last_pool_++;

    std::vector<VkWriteDescriptorSet> writes(ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = static_cast<uint32_t>(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = spec_.bindings[i];
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0,
                           nullptr);
    return set;
}

}  // namespace mq::vk
