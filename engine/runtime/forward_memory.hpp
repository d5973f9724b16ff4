#pragma once
// Device memory a VulkanForward will allocate, estimated from the model's shape before anything
// is read or uploaded, and the check that refuses a model the device (or, where device memory
// is host memory, the machine) cannot hold.
#include <cstdint>
#include <string>

#include "formats/model_desc.hpp"
#include "kernels/gpu_matrix.hpp"

namespace mq::vk {
class Context;
}

namespace mq::rt {

struct ForwardMemory {
    uint64_t weights = 0;      // in their GPU formats (planes, fp32/fp16 rows, norms, routers)
    uint64_t kv_cache = 0;     // keys and values of every layer for the whole context
    uint64_t activations = 0;  // per-batch buffers and logits
    uint64_t total() const { return weights + kv_cache + activations; }
};

struct ForwardShape {
    bool sliced = false;  // routed linears as MoBiSlice planes
    uint32_t context = 0, max_batch = 0;
    kernels::WeightFormat dense_format = kernels::WeightFormat::F32;
    bool head_8bit = false;
    uint32_t router_hidden = 0;  // 0: no routers
};

ForwardMemory estimate_forward_memory(const ModelDesc& d, const ForwardShape& s);

// What a device can hold: the smallest of these limits applies (0 = no limit of that kind).
struct MemoryLimits {
    std::string device;
    uint64_t budget = 0;          // ContextOptions::memory_budget / MOBIQUANT_MEMORY_BUDGET_MB
    uint64_t device_heap = 0;     // largest device-local heap
    bool host_memory = false;     // the device's memory is the machine's RAM (CPU, integrated)
    uint64_t host_available = 0;  // MemAvailable, when host_memory
};

MemoryLimits memory_limits_of(const vk::Context& ctx);
// MemAvailable of /proc/meminfo in bytes (0 when unreadable).
uint64_t host_available_bytes();

// Throws mq::Error naming the sizes (needed, by part, and the limit) when `need` does not fit.
void check_fits(const ForwardMemory& need, const MemoryLimits& limits, const std::string& model);

}  // namespace mq::rt
