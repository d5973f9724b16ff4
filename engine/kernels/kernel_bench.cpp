#include "kernels/kernel_bench.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "kernels/matmul_ops.hpp"
#include "vulkan/command_sequence.hpp"

namespace mq::kernels {

namespace {

// Median GPU time of one call of `plan`, recorded `reps` times (with barriers) in one sequence.
double median_call_us(vk::Context& ctx, const Plan& plan, uint32_t reps) {
    vk::CommandSequence seq(ctx, true);
    seq.begin();
    for (uint32_t i = 0; i < reps; ++i) {
        plan.record(seq);
        seq.barrier();
    }
    seq.end();
    seq.submit();  // warm-up: first-touch page faults, pipeline caches
    auto t0 = std::chrono::steady_clock::now();
    seq.submit();
    double wall_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    auto timings = seq.timings();
    if (timings.empty()) return wall_us / reps;
    // A chunked matrix is several dispatches per call: add them up per call.
    size_t per_call = plan.dispatches.size();
    std::vector<double> calls;
    for (size_t i = 0; i + per_call <= timings.size(); i += per_call) {
        double us = 0;
        for (size_t j = 0; j < per_call; ++j) us += timings[i + j].microseconds;
        calls.push_back(us);
    }
    std::nth_element(calls.begin(), calls.begin() + calls.size() / 2, calls.end());
    return calls[calls.size() / 2];
}

}  // namespace

std::vector<KernelTiming> bench_matvec_kernels(KernelLibrary& library,
                                               const KernelBenchOptions& options) {
    vk::Context& ctx = library.context();
    MatMulOps ops(library, options.layout);
    std::vector<KernelTiming> results;
    std::mt19937 rng(1234);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    auto say = [&](const std::string& s) {
        if (options.progress) options.progress(s);
    };

    auto run_shape = [&](uint32_t n, uint32_t k, uint32_t tokens) {
        say(fmt::format("preparing {}x{} weights", n, k));
        std::vector<float> w(uint64_t(n) * k);
        for (auto& v : w) v = dist(rng);
        quant::SliceOptions so;
        so.clip_steps = 0;  // speed is independent of the clipping
        quant::SlicedMatrix sliced = quant::slice_matrix(w, n, k, so);
        GpuSlicedMatrix gs(ctx, sliced);
        sliced = {};
        GpuDenseMatrix gd(ctx, w, n, k);
        std::vector<float>().swap(w);  // its memory back before the timed runs

        std::vector<float> x(uint64_t(tokens) * padded_width(k), 0.0f);
        for (uint32_t t = 0; t < tokens; ++t)
            for (uint32_t i = 0; i < k; ++i) x[uint64_t(t) * padded_width(k) + i] = dist(rng);
        vk::Buffer xb(ctx, x.size() * 4), yb(ctx, uint64_t(tokens) * n * 4),
            depth(ctx, uint64_t(tokens) * 4);
        xb.upload(x.data(), x.size() * 4);
        const std::string what = tokens > 1 ? fmt::format(" x {} tokens", tokens) : "";
        Plan plan = tokens > 1 ? ops.mobislice_matmat(gs, {vk::whole(xb), tokens, vk::whole(yb)},
                                                      {vk::whole(depth), 0})
                               : ops.mobislice_matvec(gs, {vk::whole(xb), vk::whole(yb)},
                                                      {vk::whole(depth), 0});
        for (uint32_t d = 1; d <= quant::kSlices; ++d) {
            say(fmt::format("{}x{}{} MoBiSlice depth {} ({} bits)", n, k, what, d, 2 * d));
            std::vector<uint32_t> depths(tokens, d);
            depth.upload(depths.data(), depths.size() * 4);
            double us = median_call_us(ctx, plan, options.repetitions);
            results.push_back({n, k, "mobislice", d, tokens, us, gs.bytes_read(d) / us / 1e3,
                               double(n) * k * tokens / us / 1e3});
        }
        // The full-depth variant exists in the row-per-lane layout only (the subgroup layout
        // would run its general kernel under this row's label).
        if (tokens == 1 && ops.matvec_layout() == MatVecLayout::RowPerLane) {
            say(fmt::format("{}x{} MoBiSlice depth 4 known when recording (8-bit head)", n, k));
            Plan full = ops.mobislice_matvec(gs, {vk::whole(xb), vk::whole(yb)},
                                             {vk::whole(depth), 0, true});
            double us = median_call_us(ctx, full, options.repetitions);  // depth holds 4 here
            results.push_back({n, k, "mobislice_full", quant::kSlices, tokens, us,
                               gs.bytes_read(quant::kSlices) / us / 1e3, double(n) * k / us / 1e3});
        }
        say(fmt::format("{}x{}{} dense fp32", n, k, what));
        Plan dense = tokens > 1 ? ops.dense_matmat(gd, {vk::whole(xb), tokens, vk::whole(yb)})
                                : ops.dense_matvec(gd, {vk::whole(xb), vk::whole(yb)});
        double us = median_call_us(ctx, dense, options.repetitions);
        results.push_back({n, k, "dense_f32", 0, tokens, us, gd.bytes_read() / us / 1e3,
                           double(n) * k * tokens / us / 1e3});
    };
    for (auto [n, k] : options.shapes) run_shape(n, k, 1);
    if (options.matmat_tokens > 1)
        for (auto [n, k] : options.matmat_shapes) run_shape(n, k, options.matmat_tokens);
    return results;
}

}  // namespace mq::kernels
