#include "vulkan/command_sequence.hpp"

#include "vulkan/check.hpp"
#include "vulkan/context.hpp"

namespace mq::vk {

CommandSequence::CommandSequence(Context& ctx, bool timestamps, uint32_t max_timed)
    : ctx_(ctx), max_timed_(max_timed) {
    pool_ = ctx.create_command_pool(VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT);
    try {
        create_objects(timestamps);
    } catch (...) {
        release();
        throw;
    }
}

void CommandSequence::create_objects(bool timestamps) {
    Context& ctx = ctx_;
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VK_CHECK(vkAllocateCommandBuffers(ctx.device(), &ai, &cb_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_CHECK(vkCreateFence(ctx.device(), &fci, nullptr, &fence_));
    if (timestamps && ctx.info().timestamps) {
        VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qci.queryCount = 2 * max_timed_;
        VK_CHECK(vkCreateQueryPool(ctx.device(), &qci, nullptr, &queries_));
    }
}

CommandSequence::~CommandSequence() {
    release();
}

void CommandSequence::release() {
    VkDevice dev = ctx_.device();
    if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
    if (fence_) vkDestroyFence(dev, fence_, nullptr);
    vkDestroyCommandPool(dev, pool_, nullptr);  // frees cb_ with it
}

void CommandSequence::begin() {
    VK_CHECK(vkResetCommandBuffer(cb_, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_CHECK(vkBeginCommandBuffer(cb_, &bi));
    if (queries_) vkCmdResetQueryPool(cb_, queries_, 0, 2 * max_timed_);
    labels_.clear();
    recording_ = true;
    recorded_ = false;
}

void CommandSequence::dispatch(const Kernel& kernel, VkDescriptorSet set, const void* push,
                               uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz,
                               std::string label) {
    if (!recording_) fail("dispatch outside begin()/end()");
    const auto& maxc = ctx_.info().max_workgroup_count;
    if (gx > maxc[0] || gy > maxc[1] || gz > maxc[2])
        fail("kernel {}: {}x{}x{} workgroups exceed the device's limit {}x{}x{}",
             kernel.spec().shader, gx, gy, gz, maxc[0], maxc[1], maxc[2]);
    if (push_bytes != kernel.spec().push_constant_bytes)
        fail("kernel {}: push constants are {} bytes, got {}", kernel.spec().shader,
             kernel.spec().push_constant_bytes, push_bytes);
    if (gx == 0 || gy == 0 || gz == 0) return;  // an empty grid: nothing to do
    bool timed = queries_ && labels_.size() < max_timed_;
    uint32_t q = static_cast<uint32_t>(labels_.size()) * 2;
    if (timed) vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, q);
    vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.pipeline());
    vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.layout(), 0, 1, &set, 0,
                            nullptr);
    if (push_bytes)
        vkCmdPushConstants(cb_, kernel.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(cb_, gx, gy, gz);
    if (timed) {
        vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q + 1);
        labels_.push_back(label.empty() ? kernel.spec().shader : std::move(label));
    }
}

void CommandSequence::barrier() {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cb_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void CommandSequence::copy(const Buffer& src, uint64_t src_offset, const Buffer& dst,
                           uint64_t dst_offset, uint64_t bytes) {
    if (!recording_) fail("copy outside begin()/end()");
    VkBufferCopy c{src_offset, dst_offset, bytes};
    vkCmdCopyBuffer(cb_, src.handle(), dst.handle(), 1, &c);
}

void CommandSequence::end() {
    if (!recording_) fail("end() without begin()");
    // Make results visible to the host after the fence.
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    VK_CHECK(vkEndCommandBuffer(cb_));
    recording_ = false;
    recorded_ = true;
}

void CommandSequence::submit() {
    if (!recorded_) fail("submit() before a complete recording");
    VK_CHECK(vkResetFences(ctx_.device(), 1, &fence_));
    ctx_.submit(cb_, fence_);  // holds the queue mutex for the submission only
    VK_CHECK(vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX));
}

std::vector<DispatchTiming> CommandSequence::timings() const {
    std::vector<DispatchTiming> out;
    if (!queries_ || labels_.empty()) return out;
    std::vector<uint64_t> ticks(2 * labels_.size());
    VK_CHECK(vkGetQueryPoolResults(ctx_.device(), queries_, 0, static_cast<uint32_t>(ticks.size()),
                                   ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    double ns = ctx_.info().timestamp_period_ns;
    for (size_t i = 0; i < labels_.size(); ++i)
        out.push_back(
            {labels_[i], static_cast<double>(ticks[2 * i + 1] - ticks[2 * i]) * ns / 1e3});
    return out;
}

}  // namespace mq::vk
