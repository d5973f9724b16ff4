// mobiquant quantize: a plain model in, a MoBiQuant checkpoint out (every routed linear as one
// 2-bit base slice and three 2-bit residual slices, the base scales chosen with activation
// statistics from calibration text).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "formats/model_loader.hpp"
#include "runtime/calibration.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/model_session.hpp"

namespace {

struct Options {
    std::string model, out, calib;
    uint32_t calib_tokens = 2048, window = 256, clip_steps = 8;
};

std::filesystem::path default_calibration() {
    return std::filesystem::path(MQ_SOURCE_DIR) / "assets" / "calibration.txt";
}

int run(const Options& o) {
    namespace fs = std::filesystem;
    fs::path in = o.model.empty() ? fs::path(MQ_SOURCE_DIR) / "assets" / "default-model.gguf"
                                  : fs::path(o.model);
    fs::path out(o.out);
    // Everything that can fail fast fails before the long work starts.
    fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
    if (!fs::is_directory(dir))
        mq::fail("cannot write {}: {} is not a directory", out.string(), dir.string());
    if (access(dir.c_str(), W_OK) != 0)
        mq::fail("cannot write {}: {} is not writable", out.string(), dir.string());
    if (fs::exists(out) && fs::equivalent(out, in))
        mq::fail("the output would overwrite the input model");
    fs::path calib = o.calib.empty() ? default_calibration() : fs::path(o.calib);
    std::string text = mq::read_text_file(calib);

    auto model = mq::LoadedModel::open(in);
    if (model.desc().mobiquant) mq::fail("{} is already a MoBiQuant checkpoint", in.string());
    if (!model.gguf())
        mq::fail(
            "quantizing a Hugging Face directory is not supported yet: convert it to GGUF "
            "first (llama.cpp's convert_hf_to_gguf.py)");
    mq::tok::Tokenizer tokenizer(mq::rt::load_tokenizer_spec_of(model));
    std::fprintf(stderr, "reading %s\n", in.c_str());
    mq::rt::ModelWeights w = mq::rt::ModelWeights::load(model);

    mq::rt::CalibrationOptions co;
    co.tokens = o.calib_tokens;
    co.window = o.window;
    std::unique_ptr<mq::ProgressBar> bar;
    co.progress = [&](uint64_t done, uint64_t total) {
        if (!bar) bar = std::make_unique<mq::ProgressBar>("calibrating", total, "tokens");
        bar->update(done);
    };
    mq::rt::ChannelStats stats = mq::rt::collect_channel_stats(w, tokenizer, text, co);
    if (bar) bar->finish();
    bar.reset();
    mq::rt::slice_with_stats(w, stats, o.clip_steps, [&](uint64_t done, uint64_t total) {
        if (!bar) bar = std::make_unique<mq::ProgressBar>("slicing", total, "linears");
        bar->update(done);
    });
    if (bar) bar->finish();
    std::string note = fmt::format(
        "MoBiSlice 4x2 bits, group 128; base scale/zero by a {}-step clipping search weighting "
        "each depth equally and each input channel by E[x^2] over {} tokens of {}; no routers "
        "(budgets mix neighbouring uniform depths)",
        o.clip_steps, stats.tokens, calib.filename().string());
    mq::rt::save_checkpoint(w, model, out, note);
    std::fprintf(stderr, "wrote %s (%.1f MB)\n", out.c_str(), fs::file_size(out) / 1e6);
    return 0;
}

mq::cli::Registration reg{
    "quantize", "Make a MoBiQuant checkpoint (2/4/6/8 bits in one file) from a GGUF model",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        cmd.add_option("-m,--model", o->model,
                       "Input GGUF model (default: assets/default-model.gguf)");
        cmd.add_option("-o,--out", o->out, "Output checkpoint (.gguf)")->required();
        cmd.add_option("--calib", o->calib, "Calibration text (default: assets/calibration.txt)");
        cmd.add_option("--calib-tokens", o->calib_tokens, "Calibration tokens")
            ->check(CLI::Range(1u, 10000000u))
            ->capture_default_str();
        cmd.add_option("--window", o->window, "Tokens per calibration sequence")
            ->check(CLI::Range(2u, 65536u))
            ->capture_default_str();
        cmd.add_option("--clip-steps", o->clip_steps, "Clip ratios tried per group (0 = min/max)")
            ->check(CLI::Range(0u, 64u))
            ->capture_default_str();
        return [o] { return run(*o); };
    }};

}  // namespace
