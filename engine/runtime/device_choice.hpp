#pragma once
// Which hardware runs a model, from --device or MOBIQUANT_DEVICE:
//   "cpu"           the CPU backend (CpuForward);
//   "" (default)    the preferred Vulkan device when it is a GPU; when the only
//   Vulkan devices
//                   are CPU implementations (lavapipe) or there is none, the
//                   CPU backend, which is several times faster than a Vulkan
//                   driver emulating a GPU on the same cores;
//   "vulkan"        the preferred Vulkan device, whatever its type (the tests'
//   choice); "lavapipe"      the first Vulkan device of CPU type; index or name
//   that Vulkan device (as vk::ContextOptions::device).
#include <string>

namespace mq::rt {

struct DeviceChoice {
    bool cpu = false;
    std::string vulkan_device;  // the vk::ContextOptions::device selector when !cpu
    std::string reason;         // why, for `info`/`devices` ("no GPU: lavapipe only")
};

// selector empty: $MOBIQUANT_DEVICE, else `fallback` (empty: the default rule). Throws
// mq::Error for a selector no device matches.
DeviceChoice choose_device(const std::string& selector, const std::string& fallback = "");

}  // namespace mq::rt
