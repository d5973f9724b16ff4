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

// XOR of every 64-bit word of [p, p + words): touches each byte once, nothing to optimize away.
uint64_t ReadWords(const uint64_t* p, size_t words) {
    const hn::ScalableTag<uint64_t> d;
    const size_t n = hn::Lanes(d);
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    size_t i = 0;
    for (; i + 4 * n <= words; i += 4 * n) {
        a0 = hn::Xor(a0, hn::LoadU(d, p + i));
        a1 = hn::Xor(a1, hn::LoadU(d, p + i + n));
        a2 = hn::Xor(a2, hn::LoadU(d, p + i + 2 * n));
        a3 = hn::Xor(a3, hn::LoadU(d, p + i + 3 * n));
    }
    HWY_ALIGN uint64_t lanes[hn::MaxLanes(d)];
    hn::Store(hn::Xor(hn::Xor(a0, a1), hn::Xor(a2, a3)), d, lanes);
    uint64_t x = 0;
    for (size_t l = 0; l < n; ++l) x ^= lanes[l];
    for (; i < words; ++i) x ^= p[i];
    return x;
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mq::cpu {
namespace detail {
HWY_EXPORT(ReadWords);
}

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, uint64_t bytes, int repetitions) {
    if (bytes < (1u << 20) || repetitions < 1)
        fail("read bandwidth: {} bytes x {} repetitions is too small to measure", bytes,
             repetitions);
    constexpr uint64_t kBlockWords = 1u << 17;  // 1 MiB per task
    const uint64_t words = bytes / 8, blocks = (words + kBlockWords - 1) / kBlockWords;
    std::vector<uint64_t> buffer(words);
    pool.parallel_for(static_cast<uint32_t>(blocks), [&](uint32_t b, uint32_t e) {
        for (uint64_t i = b * kBlockWords; i < std::min(words, e * kBlockWords); ++i)
            buffer[i] = i * 0x9E3779B97F4A7C15ull;  // written by the thread that reads it
    });
    const auto read = HWY_DYNAMIC_DISPATCH(detail::ReadWords);
    std::atomic<uint64_t> sink{0};
    ReadBandwidth out{0, words * 8};
    for (int rep = 0; rep < repetitions; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        pool.parallel_for(static_cast<uint32_t>(blocks), [&](uint32_t b, uint32_t e) {
            const uint64_t first = b * kBlockWords, last = std::min(words, e * kBlockWords);
            sink.fetch_xor(read(buffer.data() + first, last - first), std::memory_order_relaxed);
        });
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        out.gbs = std::max(out.gbs, out.bytes / s / 1e9);
    }
    return out;
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
