#pragma once
// The Vulkan instance, the chosen device and its compute queue: everything else hangs off this.
#include <vulkan/vulkan.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "vulkan/device_info.hpp"

namespace mq::vk {

class PipelineCache;

enum class MemoryModel { Native, Discrete };

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
    // Refuse allocations past this many bytes in total (0 = only the driver's limits), with the
    // same "out of device memory" error the driver's failure gives. Also set by
    // MOBIQUANT_MEMORY_BUDGET_MB. Tests use it to exercise that path; users to keep headroom.
    uint64_t memory_budget = 0;
    // Discrete: treat device-local memory as not host-visible even where it is (lavapipe,
    // unified-memory GPUs), so every upload and read-back takes the staging path a discrete GPU
    // needs. Also set by MOBIQUANT_MEMORY_MODEL=discrete. Tests run both ways.
    MemoryModel memory_model = MemoryModel::Native;
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
    // A new command pool on the compute queue's family (the caller destroys it).
    VkCommandPool create_command_pool(VkCommandPoolCreateFlags flags) const;
    VkPipelineCache pipeline_cache() const;
    // Bytes of the on-disk pipeline cache this context started from (0: none was read).
    size_t pipeline_cache_loaded_bytes() const;
    const DeviceInfo& info() const { return info_; }
    const VkPhysicalDeviceMemoryProperties& memory_properties() const { return memory_; }

    // The storage-buffer binding limit in force (the device's, or the test override).
    uint64_t max_storage_range() const { return storage_range_limit_; }

    // Bytes of device memory the context's buffers hold, and the budget (0 = none). Buffers
    // reserve before allocating; reserve fails with "out of device memory" past the budget.
    uint64_t allocated_bytes() const { return allocated_.load(); }
    uint64_t memory_budget() const { return memory_budget_; }
    void reserve_memory(uint64_t bytes);
    void unreserve_memory(uint64_t bytes) { allocated_ -= bytes; }
    // Whether device buffers are mapped for the host (false in the discrete memory model).
    bool maps_device_memory() const { return memory_model_ == MemoryModel::Native; }
    MemoryModel memory_model() const { return memory_model_; }

    // Counts of vkAllocateMemory calls by buffers and of queue submissions since creation: tests
    // assert that a decode step allocates nothing and submits once.
    uint64_t memory_allocation_count() const { return allocation_count_.load(); }
    void count_memory_allocation() { allocation_count_++; }
    uint64_t submit_count() const { return submit_count_.load(); }

    // Validation messages (warnings and errors) seen since creation.
    bool validation_enabled() const { return validation_; }
    size_t validation_message_count() const { return validation_count_.load(); }
    std::vector<std::string> validation_messages() const;

    // Runs `record` into a one-time command buffer, submits it and waits. Safe to call from
    // several threads at once.
    template <typename F>
    void run_once(F&& record) {
        VkCommandBuffer cb = begin_one_time();
        record(cb);
        end_one_time(cb);
    }
    // Serialises queue access from several threads (the UI and the generation worker). Held
    // only for the submission itself, never while waiting for the GPU.
    std::mutex& queue_mutex() { return queue_mutex_; }
    // Submits cb signalling fence (unsignalled), under the queue mutex; does not wait.
    void submit(VkCommandBuffer cb, VkFence fence);
    // Submits cb and waits on the calling thread's fence, with the queue free meanwhile.
    void submit_and_wait(VkCommandBuffer cb);

    // Throws mq::Error naming the feature when the device lacks it.
    void require(bool present, const char* feature) const;

    void record_validation_message(std::string message);

  private:
    // Command pools are not thread-safe, so each thread records its one-time commands (run_once)
    // from its own pool.
    struct ThreadCommands {
        VkCommandPool pool = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
    };
    ThreadCommands& thread_commands();  // the calling thread's, created on first use
    // The constructor's steps, in order.
    void create_instance(const ContextOptions& options);
    VkDebugUtilsMessengerCreateInfoEXT messenger_info();
    void create_messenger();
    void choose_device(const ContextOptions& options);
    void create_device(const ContextOptions& options);
    void apply_memory_options(const ContextOptions& options);
    void open_pipeline_cache(const ContextOptions& options);
    void release();  // destroys what was created; safe on a half-built context
    VkCommandBuffer begin_one_time();
    void end_one_time(VkCommandBuffer cb);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    DeviceInfo info_;
    VkPhysicalDeviceMemoryProperties memory_{};
    uint64_t storage_range_limit_ = 0;
    uint64_t memory_budget_ = 0;
    std::atomic<uint64_t> allocated_{0};
    MemoryModel memory_model_ = MemoryModel::Native;
    std::atomic<uint64_t> allocation_count_{0}, submit_count_{0};
    bool validation_ = false;
    std::atomic<size_t> validation_count_{0};
    mutable std::mutex log_mutex_;
    std::vector<std::string> validation_log_;
    std::mutex queue_mutex_;
    std::mutex thread_commands_mutex_;  // guards the map; each entry is used by its thread only
    std::unordered_map<std::thread::id, ThreadCommands> thread_commands_;
    std::unique_ptr<PipelineCache> cache_;
};

}  // namespace mq::vk
