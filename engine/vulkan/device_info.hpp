#pragma once
// What the engine needs to know about a physical device: identity, limits and features.
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mq::vk {

struct DeviceInfo {
    uint32_t index = 0;  // position in vkEnumeratePhysicalDevices
    std::string name;
    VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    uint32_t api_version = 0;
    uint32_t vendor_id = 0, device_id = 0;
    std::string driver;
    std::array<uint8_t, VK_UUID_SIZE> pipeline_cache_uuid{};

    // Limits
    uint64_t max_storage_buffer_range = 0;
    uint64_t max_uniform_buffer_range = 0;
    uint64_t max_memory_allocation_size = 0;
    uint64_t min_storage_buffer_offset_alignment = 0;
    uint64_t min_uniform_buffer_offset_alignment = 0;
    uint32_t max_compute_shared_memory = 0;
    uint32_t max_workgroup_invocations = 0;
    std::array<uint32_t, 3> max_workgroup_count{};
    uint32_t max_push_constants_size = 0;
    uint32_t subgroup_size = 0;
    uint64_t device_local_bytes = 0;
    float timestamp_period_ns = 0;
    bool timestamps = false;  // compute queue supports timestamp queries

    // Features the kernels may use
    bool subgroup_arithmetic = false;  // in compute shaders
    bool shader_float16 = false;
    bool shader_int8 = false;
    bool storage_16bit = false;
    bool storage_8bit = false;
    bool has_compute_queue = false;

    std::string type_name() const;
    // Higher is preferred: discrete > integrated > virtual > CPU.
    int preference() const;
};

// Every physical device with its limits (creates and destroys a temporary instance).
std::vector<DeviceInfo> list_devices();

DeviceInfo query_device_info(VkPhysicalDevice device, uint32_t index);

// Picks a device by `selector`: "" = best by preference; a number = that index; otherwise the
// first device whose name contains the text (case-insensitive). Throws mq::Error listing devices.
uint32_t select_device(const std::vector<DeviceInfo>& devices, const std::string& selector);

}  // namespace mq::vk
