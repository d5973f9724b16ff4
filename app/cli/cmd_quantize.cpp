// mobiquant quantize: a plain model in, a MoBiQuant checkpoint out (every routed linear as one
// 2-bit base slice and three 2-bit residual slices, a router per linear and the budget table).
#include <csignal>
#include <cstdio>
#include <memory>

#include "calib/quantize_job.hpp"
#include "cli/command.hpp"
#include "cli/job_printer.hpp"
#include "common/bundled_assets.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace {

std::atomic<bool> g_interrupted{false};

int run(mq::calib::QuantizeOptions o, const std::string& calib_path) {
    namespace fs = std::filesystem;
    if (o.model.empty()) o.model = mq::app::asset_path("default-model.gguf");
    fs::path calib =
        calib_path.empty() ? mq::app::asset_path("calibration.txt") : fs::path(calib_path);
    o.calibration_text = mq::read_text_file(calib);
    o.calibration_name = calib.filename().string();
    // Ctrl-C cancels between steps: the job removes its temporary file and nothing is written.
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    mq::cli::JobPrinter printer("quantize");
    try {
        mq::calib::quantize(o, std::ref(printer), &g_interrupted);
    } catch (const mq::Cancelled&) {
        printer.finish();
        std::fprintf(stderr, "interrupted: nothing was written\n");
        return 130;
    }
    printer.finish();
    std::fprintf(stderr, "wrote %s (%.1f MB)\n", o.out.c_str(), fs::file_size(o.out) / 1e6);
    return 0;
}

mq::cli::Registration reg{
    "quantize",
    "Make a MoBiQuant checkpoint (2/4/6/8 bits in one file) from a GGUF model or a Hugging Face "
    "directory",
    [](CLI::App& cmd) {
        auto o = std::make_shared<mq::calib::QuantizeOptions>();
        auto calib = std::make_shared<std::string>();
        cmd.add_option("-m,--model", o->model,
                       "Input model: a GGUF file (F32, F16, BF16, Q8_0, Q4/5_0/1, Q4/5/6_K) or a "
                       "Hugging Face directory (safetensors, sharded or not) (default: "
                       "assets/default-model.gguf)");
        cmd.add_option("-o,--out", o->out, "Output checkpoint (.gguf)")->required();
        cmd.add_option("--calib", *calib, "Calibration text (default: assets/calibration.txt)");
        cmd.add_option("--calib-tokens", o->tokens,
                       "Calibration tokens in all: every token's activations are held at each "
                       "layer, so memory and time grow with it (the job estimates its peak memory "
                       "first and refuses to start when the machine cannot hold it)")
            ->check(CLI::Range(1u, 10000000u))
            ->capture_default_str();
        cmd.add_option("--window", o->window, "Tokens per calibration sequence")
            ->check(CLI::Range(2u, 65536u))
            ->capture_default_str();
        cmd.add_option("--clip-steps", o->clip_steps, "Clip ratios tried per group (0 = min/max)")
            ->check(CLI::Range(0u, 64u))
            ->capture_default_str();
        cmd.add_option("--expand-steps", o->expand_steps,
                       "Widened ranges (up to 4/3 of min/max) tried per group besides the "
                       "clipped ones")
            ->check(CLI::Range(0u, 16u))
            ->capture_default_str();
        cmd.add_option("--depth-weights", o->depth_weights,
                       "Weight of the 2/4/6/8-bit errors (each scaled to count equally) in the "
                       "base scale search")
            ->expected(4)
            ->capture_default_str();
        cmd.add_option("--spread-base-weight", o->spread_base_weight,
                       "Weight of the 2-bit error instead, in groups whose input channels matter "
                       "alike (0 = --depth-weights everywhere)")
            ->check(CLI::Range(0.0f, 1e6f))
            ->capture_default_str();
        cmd.add_option("--router-hidden", o->router_hidden, "Hidden units of each router MLP")
            ->check(CLI::Range(1u, 64u))
            ->capture_default_str();
        cmd.add_option("--router-epochs", o->router_epochs, "Training passes per router")
            ->check(CLI::Range(1u, 10000u))
            ->capture_default_str();
        cmd.add_option("--seed", o->seed, "Seed (router initialisation, calibration depths)")
            ->capture_default_str();
        auto allocation = std::make_shared<std::string>("global");
        cmd.add_option("--allocation", *allocation,
                       "Budget table: global (one threshold on loss-sensitivity-adjusted router "
                       "scores) or per-linear (every linear meets the target on its own)")
            ->check(CLI::IsMember({"global", "per-linear"}))
            ->capture_default_str();
        cmd.add_option("--probe-depths", o->probe_depths,
                       "Per residual slice 2, 3, 4: the depth whose quantization error measures "
                       "each linear's loss sensitivity (global allocation)")
            ->expected(3)
            ->check(CLI::Range(1u, 3u))
            ->capture_default_str();
        cmd.add_option("--refit-tokens", o->refit_tokens,
                       "Calibration tokens run routed at anchor budgets to refit the budget "
                       "table, so the achieved bits meet the budget at run time (global "
                       "allocation; 0 = off)")
            ->check(CLI::Range(0u, 10000000u))
            ->capture_default_str();
        cmd.add_option("--refit-window", o->refit_window,
                       "Tokens at the start of each calibration sequence the refit routes")
            ->check(CLI::Range(2u, 65536u))
            ->capture_default_str();
        cmd.add_option("--refit-rounds", o->refit_rounds,
                       "Routed passes of the threshold refit, each from the previous thresholds")
            ->check(CLI::Range(1u, 10u))
            ->capture_default_str();
        cmd.add_option("--token-weights", o->residual_weights,
                       "Weight o/down output errors per token by 1/residual RMS^2 (1) or not (0)")
            ->capture_default_str();
        return [o, calib, allocation] {
            o->global_allocation = *allocation == "global";
            return run(*o, *calib);
        };
    }};

}  // namespace
