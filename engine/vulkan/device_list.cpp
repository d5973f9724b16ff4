#include <algorithm>
#include <cctype>

#include "vulkan/check.hpp"
#include "vulkan/device_info.hpp"

namespace mq::vk {

const char* result_name(VkResult r) {
    switch (r) {
        case VK_SUCCESS:
            return "VK_SUCCESS";
        case VK_NOT_READY:
            return "VK_NOT_READY";
        case VK_TIMEOUT:
            return "VK_TIMEOUT";
        case VK_ERROR_OUT_OF_HOST_MEMORY:
            return "VK_ERROR_OUT_OF_HOST_MEMORY";
        case VK_ERROR_OUT_OF_DEVICE_MEMORY:
            return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
        case VK_ERROR_INITIALIZATION_FAILED:
            return "VK_ERROR_INITIALIZATION_FAILED";
        case VK_ERROR_DEVICE_LOST:
            return "VK_ERROR_DEVICE_LOST";
        case VK_ERROR_MEMORY_MAP_FAILED:
            return "VK_ERROR_MEMORY_MAP_FAILED";
        case VK_ERROR_LAYER_NOT_PRESENT:
            return "VK_ERROR_LAYER_NOT_PRESENT";
        case VK_ERROR_EXTENSION_NOT_PRESENT:
            return "VK_ERROR_EXTENSION_NOT_PRESENT";
        case VK_ERROR_FEATURE_NOT_PRESENT:
            return "VK_ERROR_FEATURE_NOT_PRESENT";
        case VK_ERROR_INCOMPATIBLE_DRIVER:
            return "VK_ERROR_INCOMPATIBLE_DRIVER";
        case VK_ERROR_TOO_MANY_OBJECTS:
            return "VK_ERROR_TOO_MANY_OBJECTS";
        case VK_ERROR_FORMAT_NOT_SUPPORTED:
            return "VK_ERROR_FORMAT_NOT_SUPPORTED";
        case VK_ERROR_OUT_OF_POOL_MEMORY:
            return "VK_ERROR_OUT_OF_POOL_MEMORY";
        default:
            return "VkResult error";
    }
}

void throw_vk_error(VkResult r, const char* call, const char* file, int line) {
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        fail("out of {} memory ({} in {})", r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host",
             result_name(r), call);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        fail("no Vulkan driver found (install mesa-vulkan-drivers or your GPU's driver)");
    fail("Vulkan call failed: {} returned {} ({}) at {}:{}", call, result_name(r),
         static_cast<int>(r), file, line);
}

std::string DeviceInfo::type_name() const {
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return "discrete GPU";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return "integrated GPU";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return "virtual GPU";
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
            return "CPU";
        default:
            return "other";
    }
}

int DeviceInfo::preference() const {
    if (!has_compute_queue) return -1;
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return 4;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return 3;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return 2;
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
            return 1;
        default:
            return 0;
    }
}

DeviceInfo query_device_info(VkPhysicalDevice device, uint32_t index) {
    DeviceInfo info;
    info.index = index;

    VkPhysicalDeviceSubgroupProperties subgroup{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties maint3{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props2.pNext = &subgroup;
    subgroup.pNext = &maint3;
    VkPhysicalDeviceProperties basic;
    vkGetPhysicalDeviceProperties(device, &basic);
    if (basic.apiVersion >= VK_API_VERSION_1_2) maint3.pNext = &driver;
    vkGetPhysicalDeviceProperties2(device, &props2);
    const VkPhysicalDeviceProperties& p = props2.properties;
    const VkPhysicalDeviceLimits& l = p.limits;

    info.name = p.deviceName;
    info.type = p.deviceType;
    info.api_version = p.apiVersion;
    info.vendor_id = p.vendorID;
    info.device_id = p.deviceID;
    std::copy(std::begin(p.pipelineCacheUUID), std::end(p.pipelineCacheUUID),
              info.pipeline_cache_uuid.begin());
    if (p.apiVersion >= VK_API_VERSION_1_2)
        info.driver = std::string(driver.driverName) + " " + driver.driverInfo;
    info.max_storage_buffer_range = l.maxStorageBufferRange;
    info.max_uniform_buffer_range = l.maxUniformBufferRange;
    info.max_memory_allocation_size = maint3.maxMemoryAllocationSize;
    info.min_storage_buffer_offset_alignment = l.minStorageBufferOffsetAlignment;
    info.min_uniform_buffer_offset_alignment = l.minUniformBufferOffsetAlignment;
    info.max_compute_shared_memory = l.maxComputeSharedMemorySize;
    info.max_workgroup_invocations = l.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; ++i) info.max_workgroup_count[i] = l.maxComputeWorkGroupCount[i];
    info.max_push_constants_size = l.maxPushConstantsSize;
    info.subgroup_size = subgroup.subgroupSize;
    info.timestamp_period_ns = l.timestampPeriod;
    info.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                               (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(device, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            info.device_local_bytes += mem.memoryHeaps[i].size;

    uint32_t n_families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(device, &n_families, nullptr);
    std::vector<VkQueueFamilyProperties> families(n_families);
    vkGetPhysicalDeviceQueueFamilyProperties(device, &n_families, families.data());
    for (auto& f : families) {
        if (f.queueFlags & VK_QUEUE_COMPUTE_BIT) {
            info.has_compute_queue = true;
            info.timestamps = f.timestampValidBits > 0 && l.timestampComputeAndGraphics;
            break;
        }
    }

    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDevice16BitStorageFeatures f16s{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f16s;
    if (p.apiVersion >= VK_API_VERSION_1_2) f16s.pNext = &f12;
    vkGetPhysicalDeviceFeatures2(device, &f2);
    info.storage_16bit = f16s.storageBuffer16BitAccess;
    info.shader_float16 = f12.shaderFloat16;
    info.shader_int8 = f12.shaderInt8;
    info.storage_8bit = f12.storageBuffer8BitAccess;
    return info;
}

std::vector<DeviceInfo> list_devices() {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "mobiquant";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    VkInstance instance;
    VK_CHECK(vkCreateInstance(&ci, nullptr, &instance));
    std::vector<DeviceInfo> out;
    try {
        uint32_t n = 0;
        VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, nullptr));
        std::vector<VkPhysicalDevice> devices(n);
        VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, devices.data()));
        for (uint32_t i = 0; i < n; ++i) out.push_back(query_device_info(devices[i], i));
    } catch (...) {
        vkDestroyInstance(instance, nullptr);
        throw;
    }
    vkDestroyInstance(instance, nullptr);
    return out;
}

static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

uint32_t select_device(const std::vector<DeviceInfo>& devices, const std::string& selector) {
    if (devices.empty()) fail("no Vulkan device found (is a Vulkan driver installed?)");
    auto describe = [&] {
        std::string s;
        for (auto& d : devices) s += fmt::format("\n  {}: {} ({})", d.index, d.name, d.type_name());
        return s;
    };
    if (selector.empty()) {
        auto best = std::max_element(devices.begin(), devices.end(), [](auto& a, auto& b) {
            return a.preference() < b.preference();
        });
        if (best->preference() < 0) fail("no Vulkan device has a compute queue:{}", describe());
        return best->index;
    }
    if (std::all_of(selector.begin(), selector.end(), [](char c) { return std::isdigit(c); })) {
        unsigned long i = std::stoul(selector);
        if (i >= devices.size())
            fail("device index {} does not exist; devices:{}", selector, describe());
        return static_cast<uint32_t>(i);
    }
    for (auto& d : devices)
        if (lower(d.name).find(lower(selector)) != std::string::npos) return d.index;
    fail("no Vulkan device matches \"{}\"; devices:{}", selector, describe());
}

}  // namespace mq::vk
