// mobiquant bench-kernels: mat-vec (decode) and mat-mat (prefill) speed at every depth against
// the dense fp32 kernels and the device's streaming-read bandwidth.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <regex>

#include <fmt/format.h>

#include "cli/bench_kernels_cpu.hpp"
#include "cli/command.hpp"
#include "cli/device_options.hpp"
#include "core/error.hpp"
#include "kernels/bandwidth.hpp"
#include "kernels/kernel_bench.hpp"

namespace {

struct Options {
    mq::cli::DeviceOptions device;
    std::vector<std::string> shapes{"4096x4096", "11008x4096"};
    std::vector<std::string> matmat_shapes{"512x192", "4096x192"};
    uint32_t tokens = 32;
    uint32_t repetitions = 10;
    std::string layout = "auto";
    bool json = false;
    std::string backend = "vulkan";
    bool shapes_given = false;
    std::string simd = "auto";
    uint64_t rotate_mib = 0;
    bool no_dense = false;
};

std::pair<uint32_t, uint32_t> parse_shape(const std::string& s) {
    std::smatch m;
    static const std::regex re("^([0-9]+)x([0-9]+)$");
    if (!std::regex_match(s, m, re)) mq::fail("shape \"{}\" is not NxK (e.g. 4096x4096)", s);
    unsigned long n = std::stoul(m[1]), k = std::stoul(m[2]);
    if (n == 0 || k == 0 || n > (1u << 20) || k > (1u << 20))
        mq::fail("shape {} is out of range (1..1048576 each)", s);
    return {static_cast<uint32_t>(n), static_cast<uint32_t>(k)};
}

int run_cpu(const Options& o) {
    mq::cli::CpuBenchKernelsOptions co;
    if (o.shapes_given)
        for (auto& s : o.shapes) co.shapes.push_back(parse_shape(s));
    co.tokens = o.tokens;
    co.repetitions = o.repetitions;
    co.threads = o.device.threads;  // --threads, shared with the CPU forward's option
    co.simd = o.simd;
    co.rotate_mib = o.rotate_mib;
    co.dense = !o.no_dense;
    co.json = o.json;
    return mq::cli::run_cpu_bench_kernels(co);
}

int run(const Options& o) {
    if (o.backend == "cpu") return run_cpu(o);
    mq::kernels::KernelBenchOptions bo;
    bo.shapes.clear();
    for (auto& s : o.shapes) bo.shapes.push_back(parse_shape(s));
    bo.matmat_shapes.clear();
    for (auto& s : o.matmat_shapes) bo.matmat_shapes.push_back(parse_shape(s));
    bo.matmat_tokens = o.tokens;
    bo.repetitions = o.repetitions;
    bo.layout = o.layout == "lanes"       ? mq::kernels::MatVecLayout::RowPerLane
                : o.layout == "subgroups" ? mq::kernels::MatVecLayout::RowPerSubgroup
                                          : mq::kernels::MatVecLayout::Auto;
    bo.progress = [](const std::string& what) { std::fprintf(stderr, "  %s...\n", what.c_str()); };

    mq::vk::Context ctx(o.device.vulkan_context_options());
    mq::kernels::KernelLibrary lib(ctx);
    std::fprintf(stderr, "device: %s\n  measuring streaming read bandwidth...\n",
                 ctx.info().name.c_str());
    using mq::kernels::MatMulOps;
    MatMulOps ops(lib, bo.layout);
    const std::string layout = ops.matvec_layout() == mq::kernels::MatVecLayout::RowPerSubgroup
                                   ? "row per subgroup"
                                   : "row per lane";
    // What the one-token MoBiSlice rows run: on a CPU driver the mat-mat, not the mat-vec.
    const std::string sliced_one_token =
        ops.sliced_matvec_runs_matmat()
            ? fmt::format("one-token mat-mat, {} rows an invocation", MatMulOps::kSlicedRowsCpu)
            : "mat-vec, " + layout;
    auto bw = mq::kernels::measure_stream_read(lib);
    auto results = mq::kernels::bench_matvec_kernels(lib, bo);

    if (o.json) {
        nlohmann::json out{
            {"device", ctx.info().name},
            {"stream_read_gbs", bw.gbs},
            {"mobislice_one_token", sliced_one_token},
            {"matvec_layout", layout}};  // of the dense (and 8-bit head) mat-vec rows
        nlohmann::json rows = nlohmann::json::array();
        for (auto& r : results) {
            nlohmann::json row{{"n", r.n},   {"k", r.k},     {"kind", r.kind},
                               {"us", r.us}, {"gbs", r.gbs}, {"gweights_per_s", r.gweights}};
            if (r.kind != "dense_f32") row["depth"] = r.depth;
            if (r.tokens > 1) row["tokens"] = r.tokens;
            rows.push_back(row);
        }
        out["results"] = rows;
        std::puts(out.dump(2).c_str());
        return 0;
    }
    fmt::print(
        "Device: {}\nStreaming read: {:.1f} GB/s ({:.0f} MiB buffer)\nOne-token MoBiSlice: {}\n"
        "Dense{} mat-vec: {}\n\n",
        ctx.info().name, bw.gbs, bw.bytes / 1048576.0, sliced_one_token,
        ops.matvec_layout() == mq::kernels::MatVecLayout::RowPerLane ? " and 8-bit head" : "",
        layout);
    fmt::print("{:>12} {:>6}  {:<16} {:>10} {:>9} {:>8} {:>12}\n", "shape NxK", "tokens", "kernel",
               "us/call", "GB/s", "% read", "Gweights/s");
    for (auto& r : results) {
        std::string kernel = r.kind == "mobislice"
                                 ? fmt::format("depth {} ({} bit)", r.depth, 2 * r.depth)
                             : r.kind == "mobislice_full" ? "8-bit head"
                                                          : "dense fp32";
        fmt::print("{:>12} {:>6}  {:<16} {:>10.0f} {:>9.2f} {:>7.0f}% {:>12.2f}\n",
                   fmt::format("{}x{}", r.n, r.k), r.tokens, kernel, r.us, r.gbs,
                   100 * r.gbs / bw.gbs, r.gweights);
    }
    fmt::print(
        "(mat-mat rows: Gweights/s counts weight x token products; GB/s counts each weight "
        "once)\n");
    // The targets the kernels are held to (docs/results.md, "Kernel speed"), per shape and token
    // count.
    auto find = [&](const mq::kernels::KernelTiming& like, const char* kind, uint32_t depth) {
        for (auto& r : results)
            if (r.n == like.n && r.k == like.k && r.tokens == like.tokens && r.kind == kind &&
                r.depth == depth)
                return r.us;
        return 0.0;
    };
    for (const auto& dense : results) {
        if (dense.kind != "dense_f32") continue;
        fmt::print(
            "\n{}x{}{}: depth 1 is {:.2f}x faster than depth 4; depth 2 is {:.2f}x faster "
            "than dense fp32",
            dense.n, dense.k, dense.tokens > 1 ? fmt::format(" x {} tokens", dense.tokens) : "",
            find(dense, "mobislice", 4) / find(dense, "mobislice", 1),
            dense.us / find(dense, "mobislice", 2));
    }
    fmt::print("\n");
    return 0;
}

mq::cli::Registration reg{
    "bench-kernels",
    "Benchmark the MoBiSlice mat-vec and mat-mat at depths 1-4 against dense fp32 and the "
    "device's read bandwidth",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->device.add_to(cmd);
        auto* shapes = cmd.add_option("--shapes", o->shapes,
                                      "Matrix shapes NxK (outputs x inputs); the CPU backend "
                                      "defaults to the 7B and 1B layer shapes")
                           ->capture_default_str();
        cmd.add_option("--matmat-shapes", o->matmat_shapes,
                       "Mat-mat (prefill) shapes NxK, timed over --tokens tokens")
            ->capture_default_str();
        cmd.add_option("--tokens", o->tokens, "Tokens per mat-mat call (0 or 1: no mat-mat)")
            ->check(CLI::Range(0, 4096))
            ->capture_default_str();
        cmd.add_option("--reps", o->repetitions, "Calls timed per kernel (median reported)")
            ->check(CLI::Range(1, 10000))
            ->capture_default_str();
        cmd.add_option("--layout", o->layout,
                       "Mat-vec layout: auto (a row per subgroup on a GPU, a row per lane on a CPU "
                       "device, where the one-token MoBiSlice rows run the mat-mat), lanes or "
                       "subgroups")
            ->check(CLI::IsMember({"auto", "lanes", "subgroups"}))
            ->capture_default_str();
        cmd.add_flag("--json", o->json, "Print one JSON object");
        cmd.add_option("--backend", o->backend,
                       "vulkan (the GPU kernels) or cpu (the CPU kernels; mat-mat rows over "
                       "--tokens at the --shapes)")
            ->check(CLI::IsMember({"vulkan", "cpu"}))
            ->capture_default_str();
        cmd.add_option("--simd", o->simd,
                       "CPU backend: SIMD level (auto: the best this CPU has; e.g. AVX2)")
            ->capture_default_str();
        cmd.add_option("--rotate-mib", o->rotate_mib,
                       "CPU backend: MiB of weight copies each kernel cycles through (0: 3x the "
                       "last-level cache), also the read-bandwidth buffer when larger than 512")
            ->check(CLI::Range(0, 65536))
            ->capture_default_str();
        cmd.add_flag("--no-dense", o->no_dense, "CPU backend: skip the dense fp32/fp16 rows");
        return [o, shapes] {
            o->shapes_given = shapes->count() > 0;
            return run(*o);
        };
    }};

}  // namespace
