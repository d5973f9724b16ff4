#include "bench_kernels_cpu.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "cpu/kernel_bench.hpp"
#include "cpu/memory_bandwidth.hpp"
#include "cpu/simd_target.hpp"
#include "cpu/thread_pool.hpp"

namespace mq::cli {

namespace {

void pick_simd(const std::string& name) {
    if (name == "auto") return;
    std::string known;
    for (const auto& t : cpu::simd_targets()) {
        if (t.name == name) return cpu::use_simd_target(t.bits);
        known += " " + t.name;
    }
    fail("SIMD level \"{}\" is not available on this CPU (available: auto{})", name, known);
}

std::string kernel_label(const cpu::CpuKernelTiming& r) {
    if (r.kind == "mobislice") return fmt::format("depth {} ({} bit)", r.depth, 2 * r.depth);
    return r.kind == "dense_f32" ? "dense fp32" : "dense fp16";
}

}  // namespace

int run_cpu_bench_kernels(const CpuBenchKernelsOptions& o) {
    pick_simd(o.simd);
    cpu::ThreadPool pool(o.threads);
    cpu::CpuKernelBenchOptions bo;
    if (!o.shapes.empty()) bo.shapes = o.shapes;
    bo.matmat_tokens = o.tokens;
    bo.repetitions = o.repetitions;
    bo.dense = o.dense;
    bo.rotate_bytes = o.rotate_mib << 20;
    bo.progress = [](const std::string& what) { std::fprintf(stderr, "  %s...\n", what.c_str()); };
    std::fprintf(stderr, "CPU: %u threads, SIMD %s\n  measuring read bandwidth...\n", pool.size(),
                 cpu::simd_target_name().c_str());
    const auto bw =
        cpu::measure_read_bandwidth(pool, std::max<uint64_t>(512ull << 20, bo.rotate_bytes));
    const auto results = cpu::bench_cpu_kernels(pool, bo);

    if (o.json) {
        nlohmann::json out{{"backend", "cpu"},
                           {"threads", pool.size()},
                           {"hardware_threads", std::thread::hardware_concurrency()},
                           {"simd", cpu::simd_target_name()},
                           {"read_gbs", bw.gbs},
                           {"read_gbs_best", bw.gbs_best},
                           {"last_level_cache_bytes", cpu::last_level_cache_bytes()}};
        nlohmann::json rows = nlohmann::json::array();
        for (auto& r : results) {
            nlohmann::json row{{"n", r.n},
                               {"k", r.k},
                               {"kind", r.kind},
                               {"tokens", r.tokens},
                               {"us", r.us},
                               {"gbs", r.gbs},
                               {"us_best", r.us_best},
                               {"gbs_best", r.gbs_best},
                               {"gflops", r.gflops},
                               {"read_gbs", r.read_gbs},
                               {"read_gbs_best", r.read_gbs_best},
                               {"read_fraction", r.gbs / r.read_gbs},
                               {"read_fraction_best", r.gbs_best / r.read_gbs_best}};
            if (r.kind == "mobislice") row["depth"] = r.depth;
            rows.push_back(row);
        }
        out["results"] = rows;
        std::puts(out.dump(2).c_str());
        return 0;
    }
    fmt::print(
        "CPU: {} threads, SIMD {}\nStreaming read at the start: {:.1f} GB/s median, {:.1f} GB/s "
        "fastest ({:.0f} "
        "MiB slices of a {:.0f} MiB buffer)\n\n",
        pool.size(), cpu::simd_target_name(), bw.gbs, bw.gbs_best, bw.slice / 1048576.0,
        bw.bytes / 1048576.0);
    fmt::print("{:>12} {:>6}  {:<16} {:>10} {:>9} {:>8} {:>9} {:>9} {:>8}\n", "shape NxK", "tokens",
               "kernel", "us/call", "GB/s", "% read", "GFLOP/s", "best us", "best %");
    std::string shape;
    for (auto& r : results) {
        if (fmt::format("{}x{}", r.n, r.k) != shape) {
            shape = fmt::format("{}x{}", r.n, r.k);
            fmt::print("{:>12}  streaming read just before: {:.1f} GB/s median, {:.1f} fastest\n",
                       shape, r.read_gbs, r.read_gbs_best);
        }
        fmt::print(
            "{:>12} {:>6}  {:<16} {:>10.0f} {:>9.2f} {:>7.0f}% {:>9.1f} {:>9.0f} {:>7.0f}%\n",
            shape, r.tokens, kernel_label(r), r.us, r.gbs, 100 * r.gbs / r.read_gbs, r.gflops,
            r.us_best, 100 * r.gbs_best / r.read_gbs_best);
    }
    fmt::print(
        "(us/call: median of the calls, best us: the fastest; GB/s counts each weight byte once, "
        "also for mat-mat rows; % read: of the median streaming read measured just before the "
        "shape, best %: fastest of each)\n");
    return 0;
}

}  // namespace mq::cli
