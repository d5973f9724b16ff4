#include "runtime/forward_factory.hpp"

#include <fmt/format.h>

#include <thread>

#include "core/error.hpp"
#include "runtime/cpu_forward.hpp"
#include "vulkan/context.hpp"

namespace mq::rt {

uint32_t check_head_depth(uint32_t depth) {
    if (depth < 1 || depth > quant::kSlices)
        fail("the output head is read at depth 1..{}, not {}", quant::kSlices, depth);
    return depth;
}

std::string ComputeDevice::name() const {
    if (vulkan) return vulkan->info().name;
    const unsigned threads = cpu_threads ? cpu_threads : std::thread::hardware_concurrency();
    return fmt::format("CPU ({} thread{})", threads, threads == 1 ? "" : "s");
}

std::unique_ptr<ForwardBackend> make_forward(const ComputeDevice& device,
                                             const WeightSource& source, ForwardOptions options) {
    if (device.vulkan)
        return std::make_unique<VulkanForward>(*device.vulkan, source, std::move(options));
    return std::make_unique<CpuForward>(source, std::move(options), device.cpu_threads);
}

std::unique_ptr<ForwardBackend> make_forward(const ComputeDevice& device,
                                             const ModelWeights& weights, ForwardOptions options) {
    return make_forward(device, ModelWeightsSource(weights), std::move(options));
}

}  // namespace mq::rt
