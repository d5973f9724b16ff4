#pragma once
// --device / --threads / --validation, shared by every subcommand that runs a
// model.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/error.hpp"
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
    // For what times the Vulkan kernels rather than running a model (bench-kernels): the device
    // --device (else $MOBIQUANT_DEVICE) names, read as a model's choice reads it ("lavapipe",
    // "vulkan", an index or part of a name), else the best Vulkan device even when it is a CPU
    // driver.
    vk::ContextOptions vulkan_context_options() const {
        rt::DeviceChoice choice = rt::choose_device(device, "vulkan");
        if (choice.cpu)
            fail(
                "--device (or $MOBIQUANT_DEVICE) names the CPU backend, which runs no Vulkan "
                "kernels (--backend cpu times its own)");
        return context_on(choice);
    }
    // The device a model runs on: the CPU, or a Vulkan device whose context goes
    // into *ctx.
    rt::ComputeDevice open(std::unique_ptr<vk::Context>& ctx) const {
        rt::DeviceChoice choice = rt::choose_device(device);
        if (choice.cpu) return rt::ComputeDevice::cpu(threads);
        ctx = std::make_unique<vk::Context>(context_on(choice));
        return *ctx;
    }

  private:
    vk::ContextOptions context_on(const rt::DeviceChoice& choice) const {
        vk::ContextOptions o;
        o.device = choice.vulkan_device;
        o.validation = validation;
        return o;
    }
};

}  // namespace mq::cli
