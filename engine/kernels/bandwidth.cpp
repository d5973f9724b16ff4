#include "kernels/bandwidth.hpp"

#include <algorithm>
#include <chrono>

#include "vulkan/command_sequence.hpp"
#include "vulkan/context.hpp"

namespace mq::kernels {

BandwidthResult measure_stream_read(KernelLibrary& library, uint64_t bytes, int repetitions) {
    vk::Context& ctx = library.context();
    constexpr uint32_t kLocal = 64, kPerThread = 256;  // 4 KiB per invocation
    const auto& info = ctx.info();
    if (info.max_memory_allocation_size) bytes = std::min(bytes, info.max_memory_allocation_size);
    // Whole workgroups of whole runs per bound range.
    const uint64_t unit = uint64_t(kLocal) * kPerThread * 16;
    uint64_t range =
        std::max<uint64_t>(std::min<uint64_t>(ctx.max_storage_range(), 64ull << 20) / unit, 1) *
        unit;
    bytes = std::max<uint64_t>(bytes / range, 1) * range;

    vk::Buffer data(ctx, bytes);
    data.fill_zero();  // touch every page so the first pass does not measure page faults
    uint32_t groups = static_cast<uint32_t>(range / unit);
    vk::Buffer out(ctx, uint64_t(groups) * kLocal * 4);

    vk::Kernel& k =
        library.get({"stream_read",
                     {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER},
                     0,
                     {kLocal, kPerThread}});
    vk::CommandSequence seq(ctx, true);
    seq.begin();
    for (uint64_t off = 0; off < bytes; off += range) {
        seq.dispatch(k, k.bind({{&data, off, range}, vk::whole(out)}), nullptr, 0, groups);
    }
    seq.end();

    BandwidthResult best{0, bytes};
    for (int i = 0; i < repetitions + 1; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        seq.submit();
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        auto timings = seq.timings();
        if (!timings.empty()) {
            double us = 0;
            for (auto& t : timings) us += t.microseconds;
            seconds = us / 1e6;
        }
        if (i > 0) best.gbs = std::max(best.gbs, bytes / seconds / 1e9);  // first run warms up
    }
    return best;
}

}  // namespace mq::kernels
