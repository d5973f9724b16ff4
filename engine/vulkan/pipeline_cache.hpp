#pragma once
// VkPipelineCache persisted on disk per device (keyed by vendor, device and cache UUID), so
// shader compilation on start-up happens once per driver version.
#include <vulkan/vulkan.h>

#include <filesystem>

#include "vulkan/device_info.hpp"

namespace mq::vk {

class PipelineCache {
  public:
    // An empty `dir` means no file: the cache lives in memory only.
    PipelineCache(VkDevice device, const DeviceInfo& info, std::filesystem::path dir);
    ~PipelineCache();  // writes the cache back (atomically) when it has a file
    VkPipelineCache handle() const { return cache_; }
    const std::filesystem::path& path() const { return path_; }
    // Bytes of the file the cache was created from (0: no file, or one the driver refused).
    size_t loaded_bytes() const { return loaded_bytes_; }

  private:
    VkDevice device_;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    std::filesystem::path path_;
    size_t loaded_bytes_ = 0;
};

std::filesystem::path default_cache_dir();

}  // namespace mq::vk
