#include "calib/quantize_job.hpp"

#include <unistd.h>

#include "calib/budget_table_builder.hpp"
#include "calib/calibration_tokens.hpp"
#include "calib/layer_calibrator.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
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
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    calibration_tokens(tokenizer, o.calibration_text, o.tokens, o.window,
                       model.desc().context_length);
}

void quantize(const QuantizeOptions& o, const JobProgressFn& progress,
              const std::atomic<bool>* cancel) {
    check_quantize_inputs(o);
    JobClock clock(progress, cancel);
    clock.report("reading the model", 0);
    auto model = LoadedModel::open(o.model);
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    rt::ModelWeights w = rt::ModelWeights::load(model);

    CalibrationTokens calib = calibration_tokens(tokenizer, o.calibration_text, o.tokens, o.window,
                                                 w.desc.context_length);
    const uint32_t sequences = calib.sequences, seq_len = calib.seq_len;

    LayerCalibration lc;
    lc.clip_steps = o.clip_steps;
    lc.router.hidden = o.router_hidden;
    lc.router.epochs = o.router_epochs;
    lc.router.seed = o.seed;
    LayerCalibrator calibrator(w, calib.ids, seq_len, lc);
    const uint32_t n_layers = w.desc.n_layers, total = n_layers * rt::kLinearsPerLayer;
    uint32_t done = 0;
    for (uint32_t l = 0; l < n_layers; ++l)
        calibrator.calibrate_layer(l, [&](const std::string& linear) {
            clock.report(fmt::format("layer {}/{}: {} (slices, router)", l + 1, n_layers, linear),
                         0.97 * done++ / total);
        });
    clock.report("budget table", 0.97);
    rt::RouterSet set;
    set.routers = std::move(calibrator.routers());
    set.table = build_budget_table(calibrator.scores());
    w.routers = std::make_shared<const rt::RouterSet>(std::move(set));

    double r2 = 0;
    for (const auto& r : calibrator.reports()) r2 += r.router_r2;
    r2 /= std::max<size_t>(1, calibrator.reports().size());
    std::string note = fmt::format(
        "MoBiSlice 4x2 bits, group 128, layer by layer on {} sequences x {} tokens of {} "
        "(earlier layers quantized, random depths); base scale/zero by a {}-step clipping search "
        "weighting each depth equally and each input channel by E[x^2]; routers {}-hidden MLPs "
        "regressing log output-error gains ({} epochs, mean R^2 {:.2f}); budget table 2.0-8.0 "
        "bits in steps of 0.05, each linear meeting the target on its own",
        sequences, seq_len, o.calibration_name, o.clip_steps, o.router_hidden, o.router_epochs, r2);
    clock.report("writing the checkpoint", 0.98);
    rt::save_checkpoint(w, model, o.out, note, o.model.filename().string());
    clock.finish();
}

}  // namespace mq::calib
