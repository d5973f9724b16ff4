#pragma once
// --device / --threads / --validation, shared by every subcommand that runs a
// model.
#include <CLI/CLI.hpp>

#include <memory>

#include "runtime/device_choice.hpp"
#include "runtime/forward_factory.hpp"
#include "vulkan/context.hpp"

namespace mq::cli {

struct DeviceOptions {
    std::string device;
    unsigned threads = 0;
    bool validation = false;

    void add_to(CLI::App& cmd) {
        cmd.add_option("--device", device,
                       "cpu, or a Vulkan device: index or part of its name, "
                       "lavapipe, or vulkan "
                       "(the best one) (default: $MOBIQUANT_DEVICE, else the best "
                       "GPU, else the "
                       "CPU backend)");
        cmd.add_option("--threads", threads,
                       "Threads of the CPU backend (default: every physical core)");
        cmd.add_flag("--validation", validation,
                     "Enable the Khronos validation layer (also MOBIQUANT_VALIDATION=1)");
    }
    // For what needs a Vulkan device whatever --device says about the model
    // (bench-kernels).
    vk::ContextOptions context_options() const {
        vk::ContextOptions o;
        o.device = device;
        o.validation = validation;
        return o;
    }
    // The device a model runs on: the CPU, or a Vulkan device whose context goes
    // into *ctx.
    rt::ComputeDevice open(std::unique_ptr<vk::Context>& ctx) const {
        rt::DeviceChoice choice = rt::choose_device(device);
        if (choice.cpu) return rt::ComputeDevice::cpu(threads);
        vk::ContextOptions o = context_options();
        o.device = choice.vulkan_device;
        ctx = std::make_unique<vk::Context>(o);
        return *ctx;
    }
};

}  // namespace mq::cli
