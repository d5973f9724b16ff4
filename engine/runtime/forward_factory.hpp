#pragma once
// Where a model runs, and the forward that runs it there: a Vulkan device (VulkanForward) or,
// without one, the CPU's cores (CpuForward).
#include <memory>
#include <string>

#include "runtime/forward_backend.hpp"
#include "runtime/vulkan_forward.hpp"
#include "runtime/weight_source.hpp"

namespace mq::vk {
class Context;
}

namespace mq::rt {

struct ComputeDevice {
    ComputeDevice() = default;                         // the CPU, every core
    ComputeDevice(vk::Context& ctx) : vulkan(&ctx) {}  // a Vulkan device (implicit: one is)
    static ComputeDevice cpu(unsigned threads) {
        ComputeDevice d;
        d.cpu_threads = threads;
        return d;
    }

    vk::Context* vulkan = nullptr;  // null: the CPU backend
    unsigned cpu_threads = 0;       // CPU backend: threads, 0 = every core
    std::string name() const;       // the Vulkan device's name, or "CPU (N threads)"
};

std::unique_ptr<ForwardBackend> make_forward(const ComputeDevice& device,
                                             const WeightSource& source,
                                             ForwardOptions options = {});
std::unique_ptr<ForwardBackend> make_forward(const ComputeDevice& device,
                                             const ModelWeights& weights,
                                             ForwardOptions options = {});

}  // namespace mq::rt
