#include "calib/quantize_job.hpp"

#include <unistd.h>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/calibration.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/model_session.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::calib {

namespace fs = std::filesystem;

void check_quantize_inputs(const QuantizeOptions& o) {
    fs::path dir = o.out.has_parent_path() ? o.out.parent_path() : fs::path(".");
    if (o.out.empty()) fail("no output path given");
    if (!fs::is_directory(dir))
        fail("cannot write {}: {} is not a directory", o.out.string(), dir.string());
    if (access(dir.c_str(), W_OK) != 0)
        fail("cannot write {}: {} is not writable", o.out.string(), dir.string());
    if (fs::exists(o.out) && fs::exists(o.model) && fs::equivalent(o.out, o.model))
        fail("the output would overwrite the input model");
    auto model = LoadedModel::open(o.model);
    if (model.desc().mobiquant) fail("{} is already a MoBiQuant checkpoint", o.model.string());
    if (!model.gguf())
        fail(
            "quantizing a Hugging Face directory is not supported yet: convert it to GGUF first "
            "(llama.cpp's convert_hf_to_gguf.py)");
    if (model.desc().n_layers == 0) fail("{} has no layers with routed linears", o.model.string());
    if (o.tokens == 0) fail("calibration needs at least one token");
    if (o.window < 2) fail("calibration sequences need at least 2 tokens");
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    tok::EncodeOptions eo;
    eo.add_special = false;
    size_t n = tokenizer.encode(o.calibration_text, eo).size();
    if (n < o.tokens)
        fail(
            "the calibration text has {} tokens; {} were requested (use a longer text or fewer "
            "calibration tokens)",
            n, o.tokens);
}

void quantize(const QuantizeOptions& o, const JobProgressFn& progress,
              const std::atomic<bool>* cancel) {
    check_quantize_inputs(o);
    JobClock clock(progress, cancel);
    auto model = LoadedModel::open(o.model);
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    clock.report("reading the weights", 0);
    rt::ModelWeights w = rt::ModelWeights::load(model);

    rt::CalibrationOptions co;
    co.tokens = o.tokens;
    co.window = o.window;
    co.progress = [&](uint64_t done, uint64_t total) {
        clock.report("capturing activations", 0.5 * done / total);
    };
    rt::ChannelStats stats = rt::collect_channel_stats(w, tokenizer, o.calibration_text, co);
    rt::slice_with_stats(w, stats, o.clip_steps, [&](uint64_t done, uint64_t total) {
        clock.report("slicing", 0.5 + 0.5 * done / total);
    });
    clock.check_cancel();
    std::string note = fmt::format(
        "MoBiSlice 4x2 bits, group 128; base scale/zero by a {}-step clipping search weighting "
        "each depth equally and each input channel by E[x^2] over {} tokens of {}; no routers "
        "(budgets mix neighbouring uniform depths)",
        o.clip_steps, stats.tokens, o.calibration_name);
    rt::save_checkpoint(w, model, o.out, note);
    clock.report("done", 1.0);
}

}  // namespace mq::calib
