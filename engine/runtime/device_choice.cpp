#include "runtime/device_choice.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "vulkan/device_info.hpp"

namespace mq::rt {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// The device list, or none when no Vulkan loader or driver answers.
std::vector<vk::DeviceInfo> devices_or_none() {
    try {
        return vk::list_devices();
    } catch (const Error&) {
        return {};
    }
}

}  // namespace

DeviceChoice choose_device(const std::string& selector_arg, const std::string& fallback) {
    std::string selector = selector_arg;
    if (selector.empty())
        if (const char* env = std::getenv("MOBIQUANT_DEVICE")) selector = env;
    if (selector.empty()) selector = fallback;
    const std::string s = lower(selector);
    if (s == "cpu") return {true, "", "asked for"};
    if (!s.empty() && s != "vulkan" && s != "lavapipe") return {false, selector, "asked for"};

    std::vector<vk::DeviceInfo> devices = devices_or_none();
    if (s == "lavapipe") {
        for (const auto& d : devices)
            if (d.type == VK_PHYSICAL_DEVICE_TYPE_CPU)
                return {false, std::to_string(d.index), "asked for"};
        fail(
            "no Vulkan device of CPU type (lavapipe) found; install "
            "mesa-vulkan-drivers");
    }
    if (s == "vulkan") {
        if (devices.empty()) fail("no Vulkan device found (is a Vulkan driver installed?)");
        return {false, std::to_string(vk::select_device(devices, "")), "asked for"};
    }
    if (devices.empty()) return {true, "", "no Vulkan device"};
    uint32_t best = 0;
    try {
        best = vk::select_device(devices, "");
    } catch (const Error&) {
        return {true, "", "no Vulkan device with a compute queue"};
    }
    const auto& d = *std::find_if(devices.begin(), devices.end(),
                                  [&](const vk::DeviceInfo& i) { return i.index == best; });
    if (d.type == VK_PHYSICAL_DEVICE_TYPE_CPU)
        return {true, "", "no GPU (" + d.name + " runs on the CPU)"};
    return {false, std::to_string(best), "the preferred GPU"};
}

}  // namespace mq::rt
