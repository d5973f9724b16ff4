#include "calib/quantize_job.hpp"

#include <unistd.h>

#include <map>

#include "calib/budget_table_builder.hpp"
#include "calib/calibration_tokens.hpp"
#include "calib/layer_calibrator.hpp"
#include "calib/linear_sensitivity.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/model_session.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::calib {

namespace fs = std::filesystem;

namespace {

// What the checks read, kept for the job: the model, its tokenizer and the calibration tokens.
struct CheckedInputs {
    LoadedModel model;
    CalibrationTokens calib;
};

CheckedInputs checked_inputs(const QuantizeOptions& o) {
    fs::path dir = o.out.has_parent_path() ? o.out.parent_path() : fs::path(".");
    if (o.out.empty()) fail("no output path given");
    if (!fs::is_directory(dir))
        fail("cannot write {}: {} is not a directory", o.out.string(), dir.string());
    if (access(dir.c_str(), W_OK) != 0)
        fail("cannot write {}: {} is not writable", o.out.string(), dir.string());
    if (fs::exists(o.out) && fs::exists(o.model) && fs::equivalent(o.out, o.model))
        fail("the output would overwrite the input model");
    if (o.probe_depths.size() != rt::kRouterOutputs)
        fail("{} probe depths given; one per residual slice ({}) needed", o.probe_depths.size(),
             rt::kRouterOutputs);
    for (uint32_t d : o.probe_depths)
        if (d < 1 || d >= quant::kSlices) fail("probe depth {} is outside 1..3", d);
    auto model = LoadedModel::open(o.model);
    if (model.desc().mobiquant) fail("{} is already a MoBiQuant checkpoint", o.model.string());
    if (!model.gguf())
        fail(
            "quantizing a Hugging Face directory is not supported yet: convert it to GGUF first "
            "(llama.cpp's convert_hf_to_gguf.py)");
    if (model.desc().n_layers == 0) fail("{} has no layers with routed linears", o.model.string());
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    CalibrationTokens calib = calibration_tokens(tokenizer, o.calibration_text, o.tokens, o.window,
                                                 model.desc().context_length);
    return {std::move(model), std::move(calib)};
}

}  // namespace

void check_quantize_inputs(const QuantizeOptions& o) {
    checked_inputs(o);
}

void quantize(const QuantizeOptions& o, const JobProgressFn& progress,
              const std::atomic<bool>* cancel) {
    auto [model, calib] = checked_inputs(o);
    JobClock clock(progress, cancel);
    clock.report("reading the model", 0);
    rt::ModelWeights w = rt::ModelWeights::load(model);
    const uint32_t sequences = calib.sequences, seq_len = calib.seq_len;

    LayerCalibration lc;
    lc.clip_steps = o.clip_steps;
    lc.residual_weights = o.residual_weights;
    lc.router.hidden = o.router_hidden;
    lc.router.epochs = o.router_epochs;
    lc.router.seed = o.seed;
    LayerCalibrator calibrator(w, calib.ids, seq_len, lc);
    const uint32_t n_layers = w.desc.n_layers, total = n_layers * rt::kLinearsPerLayer;
    uint32_t done = 0;
    // Share of the job's time the layers take (the global table's loss probes take the rest).
    const double layers_share = o.global_allocation ? 0.9 : 0.97;
    for (uint32_t l = 0; l < n_layers; ++l)
        calibrator.calibrate_layer(l, [&](const std::string& linear) {
            clock.report(fmt::format("layer {}/{}: {} (slices, router)", l + 1, n_layers, linear),
                         layers_share * done++ / total);
        });
    rt::RouterSet set;
    set.routers = std::move(calibrator.routers());
    if (o.global_allocation) {
        // The full-precision weights again (calibration dropped them), with the new slices.
        rt::ModelWeights probe = rt::ModelWeights::load(model);
        for (uint32_t l = 0; l < n_layers; ++l)
            for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j)
                probe.layers[l].linear[j].sliced = w.layers[l].linear[j].sliced;
        std::map<uint32_t, std::vector<float>> offsets;
        for (uint32_t depth : o.probe_depths) {
            if (offsets.count(depth)) continue;
            SensitivityOptions so;
            so.probe_depth = depth;
            offsets[depth] =
                linear_log_sensitivities(probe, calib.ids, seq_len, so, [&](uint32_t i) {
                    clock.report(
                        fmt::format("loss sensitivity of linear {}/{} (depth {})", i + 1, total,
                                    depth),
                        0.9 + 0.08 * (offsets.size() * total + i) / (total * rt::kRouterOutputs));
                });
        }
        // Fold each slice's offset into its router's output bias: the scores become predicted
        // log loss gains, comparable across linears, and one threshold per budget serves all.
        std::vector<Rows> scores = calibrator.scores();
        for (uint32_t i = 0; i < total; ++i)
            for (uint32_t e = 0; e < rt::kRouterOutputs; ++e) {
                const float off = offsets[o.probe_depths[e]][i];
                set.routers[i].b2[e] += off;
                for (uint32_t t = 0; t < scores[i].n; ++t) scores[i].row(t)[e] += off;
            }
        clock.report("budget table", 0.98);
        set.table = build_global_budget_table(scores, std::vector<float>(total, 0.0f));
    } else {
        clock.report("budget table", 0.98);
        set.table = build_budget_table(calibrator.scores());
    }
    w.routers = std::make_shared<const rt::RouterSet>(std::move(set));

    double r2 = 0;
    for (const auto& r : calibrator.reports()) r2 += r.router_r2;
    r2 /= std::max<size_t>(1, calibrator.reports().size());
    std::string allocation =
        o.global_allocation
            ? fmt::format(
                  "one global threshold on scores converted to log loss gains by per-linear "
                  "loss sensitivities (symmetric NLL curvature along the depth {}/{}/{} "
                  "quantization error per unit of output error, folded into the routers' b2)",
                  o.probe_depths[0], o.probe_depths[1], o.probe_depths[2])
            : std::string("each linear meeting the target on its own");
    std::string note = fmt::format(
        "MoBiSlice 4x2 bits, group 128, layer by layer on {} sequences x {} tokens of {} "
        "(earlier layers quantized, random depths); base scale/zero by a {}-step clipping search "
        "weighting each depth equally and each input channel by E[x^2]; routers {}-hidden MLPs "
        "regressing log output-error gains{} ({} epochs, mean R^2 {:.2f}); budget table 2.0-8.0 "
        "bits in steps of 0.05, {}",
        sequences, seq_len, o.calibration_name, o.clip_steps, o.router_hidden,
        o.residual_weights ? " (o/down errors per token / residual RMS^2)" : "", o.router_epochs,
        r2, allocation);
    clock.report("writing the checkpoint", 0.98);
    rt::save_checkpoint(w, model, o.out, note, o.model.filename().string());
    clock.finish();
}

}  // namespace mq::calib
