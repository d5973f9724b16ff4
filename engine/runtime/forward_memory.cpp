#include "runtime/forward_memory.hpp"

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "quant/mobislice.hpp"
#include "vulkan/context.hpp"

namespace mq::rt {

namespace {
constexpr uint32_t kLinears = 7;
std::string size(uint64_t b) {
    if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
    return fmt::format("{:.2f} MiB", b / double(1ull << 20));
}
}  // namespace

ForwardMemory estimate_forward_memory(const ModelDesc& d, const ForwardShape& s) {
    using kernels::GpuDenseMatrix;
    using kernels::GpuSlicedMatrix;
    using kernels::padded_width;
    ForwardMemory m;
    const uint64_t f32 = 4;
    // Embedding (always fp32) and the output head.
    m.weights += GpuDenseMatrix::device_bytes(d.vocab_size, d.dim, kernels::WeightFormat::F32);
    if (s.head_8bit)
        m.weights += GpuSlicedMatrix::device_bytes(d.vocab_size, d.dim) + s.max_batch * f32;
    else if (!d.tied_output || s.dense_format != kernels::WeightFormat::F32)
        m.weights += GpuDenseMatrix::device_bytes(d.vocab_size, d.dim, s.dense_format);
    m.weights += uint64_t(d.dim) * f32 + uint64_t(d.rope_dim / 2) * f32;
    const uint32_t out_dims[] = {d.q_dim(), d.kv_dim(), d.kv_dim(), d.dim,
                                 d.ffn_dim, d.ffn_dim,  d.dim};
    const uint32_t in_dims[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    uint64_t per_layer = 2 * uint64_t(d.dim) * f32;
    for (uint32_t j = 0; j < kLinears; ++j) {
        per_layer += s.sliced
                         ? GpuSlicedMatrix::device_bytes(out_dims[j], in_dims[j])
                         : GpuDenseMatrix::device_bytes(out_dims[j], in_dims[j], s.dense_format);
        if (d.qkv_bias && j < 3) per_layer += uint64_t(out_dims[j]) * f32;
        if (s.router_hidden)
            per_layer += (uint64_t(s.router_hidden) * (in_dims[j] + 2 + 3) + 3) * f32;
    }
    m.weights += per_layer * d.n_layers;
    m.kv_cache = 2ull * d.n_layers * s.context * d.kv_dim() * f32;
    const uint64_t T = s.max_batch;
    m.activations =
        T * f32 *
        (3ull * padded_width(d.dim) + 2ull * padded_width(d.q_dim()) +
         2ull * padded_width(d.kv_dim()) + 2ull * padded_width(d.ffn_dim) + d.vocab_size + 1);
    m.activations += 16 + uint64_t(d.n_layers) * kLinears * (T + 1) * f32;
    return m;
}

uint64_t host_available_bytes() {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("MemAvailable:", 0) != 0) continue;
        std::istringstream fields(line.substr(13));
        uint64_t kib = 0;
        fields >> kib;
        return kib * 1024;
    }
    return 0;
}

MemoryLimits memory_limits_of(const vk::Context& ctx) {
    MemoryLimits l;
    l.device = ctx.info().name;
    l.budget = ctx.memory_budget();
    const auto& mem = ctx.memory_properties();
    for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            l.device_heap = std::max<uint64_t>(l.device_heap, mem.memoryHeaps[i].size);
    const auto type = ctx.info().type;
    l.host_memory =
        type == VK_PHYSICAL_DEVICE_TYPE_CPU || type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
    if (l.host_memory) l.host_available = host_available_bytes();
    return l;
}

void check_fits(const ForwardMemory& need, const MemoryLimits& limits, const std::string& model) {
    const std::string parts =
        fmt::format("weights {}, KV cache {}, activations {}", size(need.weights),
                    size(need.kv_cache), size(need.activations));
    const std::string advice =
        "use a shorter --context, a MoBiQuant checkpoint or --weights f16, or a smaller model";
    if (limits.budget && need.total() > limits.budget)
        fail("out of device memory: {} needs {} on {} ({}) but the memory budget is {}; {}", model,
             size(need.total()), limits.device, parts, size(limits.budget), advice);
    // Where device memory is host memory the heap size is nominal (lavapipe reports 2 GiB and
    // allocates far more from RAM): RAM is the limit there.
    if (!limits.host_memory && limits.device_heap && need.total() > limits.device_heap)
        fail(
            "out of device memory: {} needs {} on {} ({}) but its largest memory heap "
            "holds {}; {}",
            model, size(need.total()), limits.device, parts, size(limits.device_heap), advice);
    if (limits.host_memory && limits.host_available && need.total() > limits.host_available)
        fail(
            "out of memory: {} needs {} on {} ({}), whose memory is this machine's RAM, "
            "but only {} is available (MemAvailable); {}",
            model, size(need.total()), limits.device, parts, size(limits.host_available), advice);
}

}  // namespace mq::rt
