#pragma once
// The Vulkan instance, the chosen device and its compute queue: everything else hangs off this.
#include <vulkan/vulkan.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vulkan/device_info.hpp"

namespace mq::vk {

class PipelineCache;

struct ContextOptions {
    // Device index or name substring. Empty: the environment variable MOBIQUANT_DEVICE, else the
    // preferred device (discrete > integrated > virtual > CPU).
    std::string device;
    // Khronos validation layer with a messenger that counts every warning and error. Also turned
    // on by MOBIQUANT_VALIDATION=1. Fails with a clear error when the layer is not installed.
    bool validation = false;
    std::vector<const char*> instance_extensions;  // e.g. surface extensions for the GUI
    std::vector<const char*> device_extensions;    // e.g. VK_KHR_swapchain
    // Pretend the device allows at most this many bytes per storage-buffer binding (0 = the real
    // limit). Tests use it to prove big tensors are split into ranges.
    uint64_t storage_range_limit = 0;
    // On-disk pipeline cache; empty = $XDG_CACHE_HOME/mobiquant (or ~/.cache/mobiquant).
    // MOBIQUANT_PIPELINE_CACHE=0 disables it.
    std::filesystem::path cache_dir;
    bool pipeline_cache = true;
};

class Context {
  public:
    explicit Context(ContextOptions options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    VkInstance instance() const { return instance_; }
    VkPhysicalDevice physical_device() const { return physical_; }
    VkDevice device() const { return device_; }
    VkQueue queue() const { return queue_; }
    uint32_t queue_family() const { return queue_family_; }
    VkCommandPool command_pool() const { return command_pool_; }
    VkPipelineCache pipeline_cache() const;
    const DeviceInfo& info() const { return info_; }
    const VkPhysicalDeviceMemoryProperties& memory_properties() const { return memory_; }

    // The storage-buffer binding limit in force (the device's, or the test override).
    uint64_t max_storage_range() const { return storage_range_limit_; }

    // Validation messages (warnings and errors) seen since creation.
    bool validation_enabled() const { return validation_; }
    size_t validation_message_count() const { return validation_count_.load(); }
    std::vector<std::string> validation_messages() const;

    // Runs `record` into a one-time command buffer, submits it and waits.
    template <typename F>
    void run_once(F&& record) {
        VkCommandBuffer cb = begin_one_time();
        record(cb);
        end_one_time(cb);
    }
    // Serialises queue submissions from several threads (the UI and the generation worker).
    std::mutex& queue_mutex() { return queue_mutex_; }
    void submit_and_wait(VkCommandBuffer cb);

    // Throws mq::Error naming the feature when the device lacks it.
    void require(bool present, const char* feature) const;

    void record_validation_message(std::string message);

  private:
    void release();  // destroys what was created; safe on a half-built context
    VkCommandBuffer begin_one_time();
    void end_one_time(VkCommandBuffer cb);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    VkCommandPool command_pool_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    DeviceInfo info_;
    VkPhysicalDeviceMemoryProperties memory_{};
    uint64_t storage_range_limit_ = 0;
    bool validation_ = false;
    std::atomic<size_t> validation_count_{0};
    mutable std::mutex log_mutex_;
    std::vector<std::string> validation_log_;
    std::mutex queue_mutex_;
    std::unique_ptr<PipelineCache> cache_;
};

}  // namespace mq::vk
