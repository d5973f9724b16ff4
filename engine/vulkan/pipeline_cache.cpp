#include "vulkan/pipeline_cache.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/atomic_file.hpp"
#include "vulkan/check.hpp"

namespace mq::vk {

std::filesystem::path default_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
        return std::filesystem::path(xdg) / "mobiquant";
    if (const char* home = std::getenv("HOME"); home && *home)
        return std::filesystem::path(home) / ".cache" / "mobiquant";
    return {};
}

PipelineCache::PipelineCache(VkDevice device, const DeviceInfo& info, std::filesystem::path dir)
    : device_(device) {
    std::vector<char> initial;
    if (!dir.empty()) {
        std::string uuid;
        for (uint8_t b : info.pipeline_cache_uuid) uuid += fmt::format("{:02x}", b);
        path_ = dir /
                fmt::format("pipelines-{:04x}-{:04x}-{}.bin", info.vendor_id, info.device_id, uuid);
        std::ifstream in(path_, std::ios::binary);
        if (in) initial.assign(std::istreambuf_iterator<char>(in), {});
        // The driver validates the header (vendor, device, UUID) itself and ignores a
        // mismatching blob; a file too short to hold a header is simply dropped.
        if (initial.size() < 32) initial.clear();
    }
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = initial.size();
    ci.pInitialData = initial.empty() ? nullptr : initial.data();
    if (vkCreatePipelineCache(device_, &ci, nullptr, &cache_) == VK_SUCCESS) {
        loaded_bytes_ = initial.size();
    } else {
        ci.initialDataSize = 0;  // a corrupt file must not stop the program
        ci.pInitialData = nullptr;
        VK_CHECK(vkCreatePipelineCache(device_, &ci, nullptr, &cache_));
    }
}

PipelineCache::~PipelineCache() {
    if (!path_.empty()) {
        try {
            size_t size = 0;
            if (vkGetPipelineCacheData(device_, cache_, &size, nullptr) == VK_SUCCESS && size) {
                std::vector<std::byte> data(size);
                if (vkGetPipelineCacheData(device_, cache_, &size, data.data()) == VK_SUCCESS) {
                    std::filesystem::create_directories(path_.parent_path());
                    data.resize(size);
                    write_file_atomically(path_, data);
                }
            }
        } catch (const std::exception&) {
            // A cache that cannot be saved only costs start-up time next run.
        }
    }
    vkDestroyPipelineCache(device_, cache_, nullptr);
}

}  // namespace mq::vk
