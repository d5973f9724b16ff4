#include "cpu/kernel_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "core/half.hpp"
#include "cpu/dense_matrix.hpp"
#include "cpu/memory_bandwidth.hpp"
#include "cpu/sliced_matmul.hpp"

namespace mq::cpu {

namespace {

// Random codes and plausible scale/zero words: the kernels' speed does not depend on the values.
SlicedMatrixCpu random_sliced(uint32_t n, uint32_t k, uint64_t seed) {
    const uint32_t groups = (k + 127) / 128, words = groups * 8;
    std::mt19937_64 rng(seed);
    std::vector<uint32_t> planes(uint64_t(n) * words * 4);
    for (auto& p : planes) p = static_cast<uint32_t>(rng());
    std::vector<uint32_t> sz(uint64_t(n) * groups);
    for (auto& s : sz)
        s = uint32_t(float_to_half(0.01f + 1e-3f * (rng() % 16))) |
            (uint32_t(float_to_half(1.5f)) << 16);
    SlicedView v{n, k, {}, sz.data()};
    for (uint32_t e = 0; e < 4; ++e) v.planes[e] = planes.data() + uint64_t(e) * n * words;
    return SlicedMatrixCpu::prepare(v);
}

std::vector<float> random_floats(uint64_t count, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(count);
    for (auto& x : v) x = dist(rng);
    return v;
}

struct Seconds {
    double median = 0, best = 0;
};

// Median and fastest seconds of `repetitions` calls of call(i), i counting through the copies,
// after one warm-up pass over them.
template <typename Call>
Seconds time_calls(uint32_t copies, uint32_t repetitions, Call&& call) {
    for (uint32_t i = 0; i < copies; ++i) call(i);
    std::vector<double> times;
    for (uint32_t r = 0; r < repetitions; ++r) {
        const auto start = std::chrono::steady_clock::now();
        call(r % copies);
        times.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return {times[times.size() / 2], times.front()};
}

CpuKernelTiming timing(uint32_t n, uint32_t k, std::string kind, uint32_t depth, uint32_t tokens,
                       Seconds s, uint64_t bytes) {
    CpuKernelTiming t;
    t.n = n;
    t.k = k;
    t.kind = std::move(kind);
    t.depth = depth;
    t.tokens = tokens;
    t.us = s.median * 1e6;
    t.us_best = s.best * 1e6;
    t.gbs = bytes / s.median / 1e9;
    t.gbs_best = bytes / s.best / 1e9;
    t.gflops = 2.0 * n * k * tokens / s.median / 1e9;
    return t;
}

uint32_t copies_for(uint64_t rotate_bytes, uint64_t bytes_per_call) {
    return static_cast<uint32_t>(
        std::clamp<uint64_t>((rotate_bytes + bytes_per_call - 1) / bytes_per_call, 2, 64));
}

}  // namespace

uint64_t last_level_cache_bytes() {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 <= 0) l3 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l3 > 0 ? uint64_t(l3) : (32ull << 20);
}

std::vector<CpuKernelTiming> bench_cpu_kernels(ThreadPool& pool, const CpuKernelBenchOptions& o) {
    const uint64_t rotate = o.rotate_bytes ? o.rotate_bytes : 3 * last_level_cache_bytes();
    std::vector<CpuKernelTiming> out;
    // The dense fp32 and fp16 rows of one shape.
    auto bench_dense = [&](uint32_t n, uint32_t k, const std::vector<uint32_t>& token_counts,
                           const std::vector<float>& xf, std::vector<float>& y) {
        for (auto format : {DenseFormat::F32, DenseFormat::F16}) {
            std::vector<DenseMatrixCpu> dense;
            const uint64_t bytes = uint64_t(n) * k * (format == DenseFormat::F32 ? 4 : 2);
            const uint32_t copies = copies_for(rotate, bytes);
            for (uint32_t c = 0; c < copies; ++c)
                dense.push_back(
                    DenseMatrixCpu::prepare(random_floats(uint64_t(n) * k, c), n, k, format));
            for (uint32_t tokens : token_counts) {
                const Seconds s = time_calls(copies, o.repetitions, [&](uint32_t i) {
                    dense_matmul(dense[i], xf.data(), tokens, y.data(), pool);
                });
                out.push_back(timing(n, k, format == DenseFormat::F32 ? "dense_f32" : "dense_f16",
                                     0, tokens, s, bytes));
            }
        }
    };
    for (auto [n, k] : o.shapes) {
        if (o.progress) o.progress(fmt::format("{}x{}", n, k));
        const size_t first_row = out.size();
        const ReadBandwidth bw =
            measure_read_bandwidth(pool, std::max<uint64_t>(512ull << 20, rotate), 16ull << 20, 32);
        std::vector<uint32_t> token_counts = {1};
        if (o.matmat_tokens > 1) token_counts.push_back(o.matmat_tokens);
        const uint32_t max_tokens = token_counts.back();
        auto xf = random_floats(uint64_t(max_tokens) * k, n + k);
        std::vector<float> y(uint64_t(max_tokens) * n);

        // One set of copies serves every depth: enough that depth 1 already exceeds `rotate`.
        std::vector<SlicedMatrixCpu> sliced;
        const uint32_t sliced_copies = copies_for(rotate, uint64_t(n) * k / 4);
        for (uint32_t c = 0; c < sliced_copies; ++c) sliced.push_back(random_sliced(n, k, c));
        for (uint32_t tokens : token_counts) {
            QuantizedActivations x;
            quantize_activations(xf.data(), tokens, k, x);
            for (uint32_t depth = 1; depth <= 4; ++depth) {
                const std::vector<uint8_t> depths(tokens, static_cast<uint8_t>(depth));
                const uint32_t copies =
                    std::min(sliced_copies, copies_for(rotate, sliced[0].bytes_read(depth)));
                const Seconds s = time_calls(copies, o.repetitions, [&](uint32_t i) {
                    sliced_matmul(sliced[i], x, depths, y.data(), pool);
                });
                out.push_back(
                    timing(n, k, "mobislice", depth, tokens, s, sliced[0].bytes_read(depth)));
            }
        }
        sliced.clear();
        if (o.dense) bench_dense(n, k, token_counts, xf, y);
        for (size_t i = first_row; i < out.size(); ++i) {
            out[i].read_gbs = bw.gbs;
            out[i].read_gbs_best = bw.gbs_best;
        }
    }
    return out;
}

}  // namespace mq::cpu
