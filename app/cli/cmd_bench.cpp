// mobiquant bench: prefill and decode tokens/s and weight GB/s for the unquantized model and
// each uniform depth, on a model file or random weights with a real model's shapes, on a Vulkan
// device or the CPU backend, against the memory read bandwidth measured the same way.
#include <sys/resource.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "cpu/memory_bandwidth.hpp"
#include "formats/model_loader.hpp"
#include "kernels/bandwidth.hpp"
#include "runtime/model_bench.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    std::string synthetic;
    uint32_t prefill = 64, decode = 16, repeat = 1;
    bool json = false;
    bool depths_only = false;
};

int run(const Options& o) {
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    mq::rt::ModelWeights weights;
    std::string name;
    if (!o.synthetic.empty()) {
        auto desc = mq::rt::synthetic_desc(o.synthetic);
        if (!desc)
            mq::fail("unknown synthetic model \"{}\"; known: {}", o.synthetic,
                     mq::rt::synthetic_names());
        std::unique_ptr<mq::ProgressBar> bar;  // in millions of weights
        weights = mq::rt::random_weights(*desc, 1, [&](uint64_t done, uint64_t total) {
            if (!bar)
                bar = std::make_unique<mq::ProgressBar>("random weights for " + desc->name,
                                                        (total + 999999) / 1000000, "M weights");
            bar->update((done + 999999) / 1000000);
        });
        bar.reset();  // prints the time it took
        name = desc->name;
    } else {
        auto model = mq::LoadedModel::open(o.model.model_path());
        weights = mq::rt::ModelWeights::load(model);
        name = weights.desc.name.empty() ? o.model.model_path().filename().string()
                                         : weights.desc.name;
    }
    mq::rt::ModelBenchOptions bo;
    bo.prefill_tokens = o.prefill;
    bo.decode_tokens = o.decode;
    bo.repeats = o.repeat;
    bo.include_f32 = bo.include_f16 = !o.depths_only;
    bo.sliced_dense_format =
        o.model.weights == "f32" ? mq::kernels::WeightFormat::F32 : mq::kernels::WeightFormat::F16;
    bo.sliced_head_8bit = o.model.head != "dense";
    bo.sliced_head_depth = o.model.head_depth();
    const std::string head = bo.sliced_head_8bit ? o.model.head : o.model.weights;
    const auto start = std::chrono::steady_clock::now();  // phases show when they began
    bo.progress = [start](const std::string& s) {
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "  [%6.1fs] %s...\n", t, s.c_str());
    };
    std::unique_ptr<mq::ProgressBar> bar;
    bo.work_progress = [&](const std::string& phase, uint64_t done, uint64_t total) {
        if (!bar) bar = std::make_unique<mq::ProgressBar>("  " + phase, total);
        bar->update(done);
        if (done >= total) bar.reset();
    };
    double read_gbs = 0;
    if (ctx) {
        mq::kernels::KernelLibrary lib(*ctx);
        read_gbs = mq::kernels::measure_stream_read(lib, 256ull << 20, 3).gbs;
    } else {
        mq::cpu::ThreadPool pool(o.model.device.threads);
        read_gbs = mq::cpu::measure_read_bandwidth(pool).gbs;
    }
    auto rows = mq::rt::bench_model(device, std::move(weights), bo);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const uint64_t peak_rss = uint64_t(usage.ru_maxrss) * 1024;  // kB on Linux
    if (o.json) {
        nlohmann::json out{{"device", device.name()},
                           {"model", name},
                           {"stream_read_gbs", read_gbs},
                           {"peak_rss_bytes", peak_rss},
                           {"depth_rows_head", head}};
        nlohmann::json results = nlohmann::json::array();
        for (auto& r : rows)
            results.push_back({{"config", r.config},
                               {"prefill_tps", r.prefill_tps},
                               {"decode_tps", r.decode_tps},
                               {"weight_gbs", r.weight_gbs},
                               {"weight_bytes_per_token", r.weight_bytes_per_token},
                               {"submits_per_token", r.submits_per_token}});
        out["results"] = results;
        std::puts(out.dump(2).c_str());
        return 0;
    }
    fmt::print("Model: {}\nDevice: {} (streaming read {:.1f} GB/s)\n\n", name, device.name(),
               read_gbs);
    fmt::print("depth rows: every routed linear sliced at that depth, output head {}\n\n", head);
    fmt::print("{:<8} {:>12} {:>12} {:>12} {:>12} {:>10}{}\n", "config", "prefill t/s",
               "decode t/s", "MB/token", "weight GB/s", "% of read", ctx ? "  submits/tok" : "");
    for (auto& r : rows)
        fmt::print("{:<8} {:>12.1f} {:>12.2f} {:>12.1f} {:>12.2f} {:>10.0f}{}\n", r.config,
                   r.prefill_tps, r.decode_tps, r.weight_bytes_per_token / 1e6, r.weight_gbs,
                   100 * r.weight_gbs / read_gbs,
                   ctx ? fmt::format(" {:>12.1f}", r.submits_per_token) : "");
    fmt::print("\npeak resident memory {:.2f} GiB\n", peak_rss / 1073741824.0);
    return 0;
}

mq::cli::Registration reg{
    "bench",
    "Benchmark prefill/decode tokens/s for fp32 and depths 1-4 (a model or --synthetic shapes)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        // Here --weights/--head set the depth rows' output head (the f32 and f16 rows run
        // anyway): 8-bit planes by default, as a quantized deployment would keep it.
        o->model.weights = "f16";
        o->model.head = "8bit";
        o->model.add_to(cmd, false);
        cmd.add_option("--synthetic", o->synthetic,
                       "Random weights with a real model's shapes: " + mq::rt::synthetic_names());
        cmd.add_option("--prefill", o->prefill, "Prompt tokens")
            ->check(CLI::Range(1u, 2000u))
            ->capture_default_str();
        cmd.add_option("--decode", o->decode, "Generated tokens")
            ->check(CLI::Range(1u, 2000u))
            ->capture_default_str();
        cmd.add_option("--repeat", o->repeat,
                       "Runs of each row's prefill and decode; the fastest is printed")
            ->check(CLI::Range(1u, 100u))
            ->capture_default_str();
        cmd.add_flag("--depths-only", o->depths_only,
                     "Skip the unquantized f32 and f16 rows (on a 1B shape they take minutes)");
        cmd.add_flag("--json", o->json, "Print one JSON object");
        return [o] { return run(*o); };
    }};

}  // namespace
