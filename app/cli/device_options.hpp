#pragma once
// --device / --validation, shared by every subcommand that opens a Vulkan device.
#include <CLI/CLI.hpp>

#include <memory>

#include "vulkan/context.hpp"

namespace mq::cli {

struct DeviceOptions {
    std::string device;
    bool validation = false;

    void add_to(CLI::App& cmd) {
        cmd.add_option("--device", device,
                       "Vulkan device: index or part of its name (default: $MOBIQUANT_DEVICE, "
                       "else the best GPU, else a CPU device such as lavapipe)");
        cmd.add_flag("--validation", validation,
                     "Enable the Khronos validation layer (also MOBIQUANT_VALIDATION=1)");
    }
    vk::ContextOptions context_options() const {
        vk::ContextOptions o;
        o.device = device;
        o.validation = validation;
        return o;
    }
};

}  // namespace mq::cli
