#include "cpu/memory_bandwidth.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/error.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/memory_bandwidth.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mq::cpu::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// XOR of every 64-bit word of [p, p + words), read as four streams at once (the quarters of the
// range), as the kernels read up to four planes and their scales: one stream per core leaves
// memory parallelism unused and understates what the memory delivers.
uint64_t ReadWords(const uint64_t* p, size_t words) {
    const hn::ScalableTag<uint64_t> d;
    const size_t n = hn::Lanes(d), quarter = words / 4 / n * n;
    const uint64_t *p0 = p, *p1 = p + quarter, *p2 = p + 2 * quarter, *p3 = p + 3 * quarter;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (size_t i = 0; i < quarter; i += n) {
        a0 = hn::Xor(a0, hn::LoadU(d, p0 + i));
        a1 = hn::Xor(a1, hn::LoadU(d, p1 + i));
        a2 = hn::Xor(a2, hn::LoadU(d, p2 + i));
        a3 = hn::Xor(a3, hn::LoadU(d, p3 + i));
    }
    HWY_ALIGN uint64_t lanes[hn::MaxLanes(d)];
    hn::Store(hn::Xor(hn::Xor(a0, a1), hn::Xor(a2, a3)), d, lanes);
    uint64_t x = 0;
    for (size_t l = 0; l < n; ++l) x ^= lanes[l];
    for (size_t i = 4 * quarter; i < words; ++i) x ^= p[i];
    return x;
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mq::cpu {
namespace detail {
HWY_EXPORT(ReadWords);
}

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, uint64_t bytes, uint64_t slice,
                                     int repetitions) {
    constexpr uint64_t kBlockWords = 1u << 17;  // 1 MiB per task
    if (slice < 8 * kBlockWords || bytes < 2 * slice || repetitions < 1)
        fail("read bandwidth: {} byte slices of {} bytes x {} repetitions cannot be measured",
             slice, bytes, repetitions);
    const uint64_t slice_blocks = slice / 8 / kBlockWords;
    const uint64_t slices = bytes / 8 / kBlockWords / slice_blocks;
    const uint64_t words = slices * slice_blocks * kBlockWords;
    std::vector<uint64_t> buffer(words);
    pool.parallel_for(static_cast<uint32_t>(words / kBlockWords), [&](uint32_t b, uint32_t e) {
        for (uint64_t i = b * kBlockWords; i < e * kBlockWords; ++i)
            buffer[i] = i * 0x9E3779B97F4A7C15ull;
    });
    const auto read = HWY_DYNAMIC_DISPATCH(detail::ReadWords);
    std::atomic<uint64_t> sink{0};
    auto read_slice = [&](uint64_t s) {
        const uint64_t* base = buffer.data() + s * slice_blocks * kBlockWords;
        pool.parallel_for(static_cast<uint32_t>(slice_blocks), [&](uint32_t b, uint32_t e) {
            sink.fetch_xor(read(base + b * kBlockWords, (e - b) * kBlockWords),
                           std::memory_order_relaxed);
        });
    };
    for (uint64_t s = 0; s < slices; ++s) read_slice(s);  // warm-up: pages and pool
    std::vector<double> gbs;
    for (int rep = 0; rep < repetitions; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        read_slice(rep % slices);
        const double sec =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        gbs.push_back(slice_blocks * kBlockWords * 8 / sec / 1e9);
    }
    std::sort(gbs.begin(), gbs.end());
    return {gbs[gbs.size() / 2], gbs.back(), words * 8, slice_blocks * kBlockWords * 8};
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
