#pragma once
// A command buffer recorded once and submitted many times: a whole forward step or benchmark
// loop is one submission, since on small models per-submit overhead (30-350 us on lavapipe)
// dominates. Optional timestamp queries time every dispatch on the GPU.
//
// Each sequence has its own command pool, so sequences on different threads record and submit
// concurrently; one sequence must not be used by two threads at once.
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vulkan/buffer.hpp"
#include "vulkan/kernel.hpp"

namespace mq::vk {

class Context;

struct DispatchTiming {
    std::string label;
    double microseconds;
};

class CommandSequence {
  public:
    explicit CommandSequence(Context& ctx, bool timestamps = false, uint32_t max_timed = 4096);
    ~CommandSequence();
    CommandSequence(const CommandSequence&) = delete;
    CommandSequence& operator=(const CommandSequence&) = delete;

    void begin();  // (re)starts recording; drops what was recorded
    void dispatch(const Kernel& kernel, VkDescriptorSet set, const void* push, uint32_t push_bytes,
                  uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1,
                  std::string label = {});
    // Makes every earlier shader or transfer write visible to later shaders and transfers.
    void barrier();
    // A buffer copy (the staging copies of a step on a discrete GPU, vulkan/staged_buffer.hpp).
    void copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset,
              uint64_t bytes);
    void end();

    // Submits and waits (the queue stays free for other threads during the wait); may be called
    // any number of times after end().
    void submit();

    // GPU time of each dispatch in the last submit (empty without timestamps).
    std::vector<DispatchTiming> timings() const;

  private:
    void create_objects(bool timestamps);
    void release();
    Context& ctx_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cb_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    VkQueryPool queries_ = VK_NULL_HANDLE;
    uint32_t max_timed_;
    std::vector<std::string> labels_;
    bool recording_ = false, recorded_ = false;
};

}  // namespace mq::vk
