#include "calib/quantize_job.hpp"

#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "calib/budget_table_builder.hpp"
#include "calib/calibration_tokens.hpp"
#include "calib/fisher_sensitivity.hpp"
#include "calib/layer_calibrator.hpp"
#include "calib/linear_sensitivity.hpp"
#include "calib/quantize_memory.hpp"
#include "calib/threshold_refit.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/hf_gguf_metadata.hpp"
#include "runtime/model_session.hpp"
#include "runtime/slice_store.hpp"
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
    if (o.depth_weights.size() != quant::kSlices)
        fail("--depth-weights needs {} values, got {}", quant::kSlices, o.depth_weights.size());
    for (float v : o.depth_weights)
        if (!(v >= 0) || !std::isfinite(v))
            fail("--depth-weights must be finite and >= 0, got {}", v);
    if (!(o.spread_base_weight >= 0) || !std::isfinite(o.spread_base_weight))
        fail("--spread-base-weight must be finite and >= 0, got {}", o.spread_base_weight);
    fs::path dir = o.out.has_parent_path() ? o.out.parent_path() : fs::path(".");
    if (o.out.empty()) fail("no output path given");
    if (!fs::is_directory(dir))
        fail("cannot write {}: {} is not a directory", o.out.string(), dir.string());
    if (access(dir.c_str(), W_OK) != 0)
        fail("cannot write {}: {} is not writable", o.out.string(), dir.string());
    if (fs::exists(o.out) && fs::exists(o.model) && fs::equivalent(o.out, o.model))
        fail("the output would overwrite the input model");
    if (o.refit_tokens && (o.refit_window < 2 || o.refit_rounds == 0))
        fail("the threshold refit needs windows of at least 2 tokens and at least one round");
    if (o.probe_depths.size() != rt::kRouterOutputs)
        fail("{} probe depths given; one per residual slice ({}) needed", o.probe_depths.size(),
             rt::kRouterOutputs);
    for (uint32_t d : o.probe_depths)
        if (d < 1 || d >= quant::kSlices) fail("probe depth {} is outside 1..3", d);
    auto model = LoadedModel::open(o.model);
    if (model.desc().mobiquant) fail("{} is already a MoBiQuant checkpoint", o.model.string());
    if (model.hf()) rt::check_hf_tokenizer_round_trip(model, o.calibration_text);
    if (model.desc().n_layers == 0) fail("{} has no layers with routed linears", o.model.string());
    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(model));
    CalibrationTokens calib = calibration_tokens(tokenizer, o.calibration_text, o.tokens, o.window,
                                                 model.desc().context_length);
    return {std::move(model), std::move(calib)};
}

// A Hugging Face llama's q/k rows rotate half-split pairs; the checkpoint is a GGUF llama,
// which rotates interleaved pairs: reorder the rows as llama.cpp's converter does, and run the
// calibration with the GGUF layout so the slices match what the checkpoint's readers expect.
bool needs_rope_reorder(const LoadedModel& model) {
    return model.hf() && model.desc().arch == "llama";
}

void reorder_rope_rows(const ModelDesc& d, rt::LayerWeights& L) {
    for (auto [j, heads] : {std::pair{rt::Linear::Q, d.n_heads}, {rt::Linear::K, d.n_kv_heads}}) {
        rt::LinearWeights& lin = L[j];
        lin.dense = rope_rows_neox_to_normal(lin.dense, lin.cols, heads);
        if (!lin.bias.empty()) lin.bias = rope_rows_neox_to_normal(lin.bias, 1, heads);
    }
}

}  // namespace

void check_quantize_inputs(const QuantizeOptions& o) {
    checked_inputs(o);
}

namespace {
// The job allocates and frees activation and weight buffers of 1-300 MB per linear from worker
// threads. glibc's malloc raises its mmap threshold to the largest freed block (up to 32 MB) and
// then keeps such buffers in per-thread heaps it rarely returns, so the resident size grows layer
// after layer. A fixed threshold sends every large buffer back to the system when it is freed.
void return_large_buffers_to_the_system() {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}
}  // namespace

void quantize(const QuantizeOptions& o, const JobProgressFn& progress,
              const std::atomic<bool>* cancel) {
    return_large_buffers_to_the_system();
    auto [model, calib] = checked_inputs(o);
    check_quantize_memory(
        estimate_quantize_memory(model.desc(), calib.ids.size(), o.global_allocation),
        available_memory());
    JobClock clock(progress, cancel);
    // Streaming: the frame (shapes, norms of the head) now, each layer's tensors when it is
    // calibrated, the finished slices in a temporary file until the checkpoint is written.
    clock.report("reading the embeddings of the calibration tokens", 0);
    rt::ModelWeights w = rt::ModelWeights::load_frame(model);
    const bool reorder = needs_rope_reorder(model);
    if (reorder) w.desc.rope_layout = RopeLayout::Normal;
    const uint32_t sequences = calib.sequences, seq_len = calib.seq_len;

    LayerCalibration lc;
    lc.slicing.clip_steps = o.clip_steps;
    lc.slicing.expand_steps = o.expand_steps;
    std::copy(o.depth_weights.begin(), o.depth_weights.end(), lc.slicing.depth_weights.begin());
    lc.slicing.spread_base_weight = o.spread_base_weight;
    lc.residual_weights = o.residual_weights;
    lc.router.hidden = o.router_hidden;
    lc.router.epochs = o.router_epochs;
    lc.router.seed = o.seed;
    LayerCalibrator calibrator(w, embed_rows(model, calib.ids), seq_len, lc);
    const uint32_t n_layers = w.desc.n_layers, total = n_layers * rt::kLinearsPerLayer;
    fs::path out_dir = o.out.has_parent_path() ? o.out.parent_path() : fs::path(".");
    rt::SliceStore slices(out_dir, n_layers);
    // Shares of the job's time: the layers, the global table's loss probes, writing. Within the
    // layers, each linear counts by its size.
    // The threshold refit's tokens: the first refit_window tokens of as many calibration
    // sequences as refit_tokens asks for (each window routes as one sequence, at one anchor).
    const uint32_t refit_window = std::min({o.refit_window, seq_len, std::max(2u, o.refit_tokens)});
    const uint32_t refit_windows =
        o.global_allocation ? std::min(o.refit_tokens / refit_window, sequences) : 0;
    std::vector<uint32_t> refit_rows, refit_ids;
    for (uint32_t s = 0; s < refit_windows; ++s)
        for (uint32_t p = 0; p < refit_window; ++p) {
            refit_rows.push_back(s * seq_len + p);
            refit_ids.push_back(calib.ids[s * seq_len + p]);
        }
    const uint32_t refit_tokens = static_cast<uint32_t>(refit_rows.size());
    const double refit_share = refit_tokens ? 0.04 : 0.0, write_share = 0.02;
    const double layers_share = o.global_allocation ? 0.88 - refit_share : 0.96;
    uint64_t layer_weights = 0, done = 0;
    for (const auto& lin : w.layers[0].linear) layer_weights += uint64_t(lin.rows) * lin.cols;
    const uint64_t all_weights = layer_weights * n_layers;
    for (uint32_t l = 0; l < n_layers; ++l) {
        clock.report(fmt::format("layer {}/{}: reading", l + 1, n_layers),
                     layers_share * double(done) / double(all_weights));
        w.layers[l] = rt::ModelWeights::load_layer(model, l);
        if (reorder) reorder_rope_rows(w.desc, w.layers[l]);
        calibrator.calibrate_layer(l, [&, j = 0u](const std::string& linear) mutable {
            clock.report(fmt::format("layer {}/{}: {} (slices, router)", l + 1, n_layers, linear),
                         layers_share * double(done) / double(all_weights));
            const auto& lin = w.layers[l].linear[j++];
            done += uint64_t(lin.rows) * lin.cols;
        });
        for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
            rt::LinearWeights& lin = w.layers[l].linear[j];
            slices.put(l, static_cast<rt::Linear>(j), *lin.sliced);
            lin.sliced.reset();
        }
    }
    rt::RouterSet set;
    set.routers = std::move(calibrator.routers());
    std::vector<double> refit_misses;  // per round: the worst estimated miss at the anchors
    // The passes after calibration read the model a layer at a time from the file, with its new
    // slices.
    std::optional<std::pair<uint32_t, rt::LayerWeights>> current;
    WeightSource source;
    source.desc = w.desc;
    source.output_norm = w.output_norm;  // read with the frame
    source.embed = [&](std::span<const uint32_t> ids) { return embed_rows(model, ids); };
    source.layer = [&](uint32_t l) -> const rt::LayerWeights& {
        if (!current || current->first != l) {
            current.reset();
            rt::LayerWeights L = rt::ModelWeights::load_layer(model, l);
            if (reorder) reorder_rope_rows(w.desc, L);
            for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j)
                L.linear[j].sliced = slices.get(l, static_cast<rt::Linear>(j));
            current.emplace(l, std::move(L));
        }
        return current->second;
    };
    const double table_start = 1 - write_share - 0.01;
    if (o.global_allocation) {
        // One forward and one backward pass of the full-precision model over the calibration
        // tokens.
        std::vector<float> head = model.to_f32(
            model.get(model.desc().tied_output ? "token_embd.weight" : "output.weight"));
        source.output = head;
        // Every probed depth's curvature from the same pass.
        FisherOptions fo;
        fo.depths.clear();
        for (uint32_t depth : o.probe_depths)
            if (std::find(fo.depths.begin(), fo.depths.end(), depth) == fo.depths.end())
                fo.depths.push_back(depth);
        fo.seed = o.seed;
        fo.residual_weights = o.residual_weights;
        auto curvatures =
            linear_curvatures(source, calib.ids, seq_len, fo, [&](uint32_t i, uint32_t stages) {
                clock.report(
                    fmt::format("loss sensitivity: {} ({}/{})",
                                i < n_layers    ? "forward"
                                : i == n_layers ? "output head"
                                                : "backward",
                                i + 1, stages),
                    layers_share + (table_start - refit_share - layers_share) * i / stages);
            });
        current.reset();
        source.output = {};
        std::vector<float>().swap(head);  // the refit does not read the head
        std::map<uint32_t, std::vector<float>> offsets;
        for (size_t di = 0; di < fo.depths.size(); ++di)
            offsets[fo.depths[di]] = log_sensitivities(curvatures[di]);
        // Fold each slice's offset into its router's output bias: the scores become predicted
        // log loss gains, comparable across linears, and one threshold per budget serves all.
        std::vector<Rows> scores = calibrator.scores();
        for (uint32_t i = 0; i < total; ++i)
            for (uint32_t e = 0; e < rt::kRouterOutputs; ++e) {
                const float off = offsets[o.probe_depths[e]][i];
                set.routers[i].b2[e] += off;
                for (uint32_t t = 0; t < scores[i].n; ++t) scores[i].row(t)[e] += off;
            }
        clock.report("budget table", table_start - refit_share);
        set.table = build_global_budget_table(scores, std::vector<float>(total, 0.0f));
        if (refit_tokens) {
            uint32_t r = 0;
            set.table = refit_global_table(
                scores, refit_rows, refit_window, set.table.budgets, o.refit_rounds,
                [&](const RoutedRuns& runs) {
                    return routed_scores(
                        source, set.routers, embed_rows(model, refit_ids), refit_window, runs,
                        [&](uint32_t l) {
                            clock.report(
                                fmt::format("threshold refit: round {}/{}, layer {}/{}", r + 1,
                                            o.refit_rounds, l + 1, n_layers),
                                table_start - refit_share +
                                    refit_share * (r * n_layers + l) / (o.refit_rounds * n_layers));
                        });
                },
                [&](uint32_t round, const RefitRound& report) {
                    refit_misses.push_back(report.worst_miss());
                    r = round + 1;
                });
            current.reset();
        }
    } else {
        clock.report("budget table", table_start);
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
                  "loss sensitivities (Fisher curvature of the KL from full precision along the "
                  "depth {}/{}/{} quantization error, diagonal in tokens and channels, from one "
                  "backward pass with Gaussian draws of the model's own Fisher, per unit of "
                  "output error, folded into the routers' b2)",
                  o.probe_depths[0], o.probe_depths[1], o.probe_depths[2])
            : std::string("each linear meeting the target on its own");
    if (refit_tokens) {
        std::string misses;
        for (double m : refit_misses)
            misses += fmt::format("{}{:.3f}", misses.empty() ? "" : ", ", m);
        allocation += fmt::format(
            "; thresholds refitted on {} calibration tokens routed at {} anchor budgets, {} "
            "round{} (worst miss estimated at the anchors before each round: {} bits)",
            refit_tokens, refit_windows, o.refit_rounds, o.refit_rounds == 1 ? "" : "s", misses);
    }
    std::string note = fmt::format(
        "MoBiSlice 4x2 bits, group 128, layer by layer on {} sequences x {} tokens of {} "
        "(earlier layers quantized, random depths); base scale/zero by a search over {} clipped "
        "and {} widened ranges, "
        "{}, each input channel weighted by E[x^2]; routers {}-hidden MLPs "
        "regressing log output-error gains{} ({} epochs, mean R^2 {:.2f}); budget table 2.0-8.0 "
        "bits in steps of 0.05, {}",
        sequences, seq_len, o.calibration_name, o.clip_steps, o.expand_steps,
        fmt::format(
            "depth k's error weighted {}/{}/{}/{} x 16^(k-1){}", o.depth_weights[0],
            o.depth_weights[1], o.depth_weights[2], o.depth_weights[3],
            o.spread_base_weight > 0
                ? fmt::format(" (depth 1 {} in groups with spread E[x^2])", o.spread_base_weight)
                : ""),
        o.router_hidden, o.residual_weights ? " (o/down errors per token / residual RMS^2)" : "",
        o.router_epochs, r2, allocation);
    clock.report("writing the checkpoint", 1 - write_share);
    rt::save_checkpoint(
        w, slices, model, o.out, note, o.model.filename().string(), [&](double fraction) {
            clock.report("writing the checkpoint", 1 - write_share + write_share * fraction);
        });
    clock.finish();
}

}  // namespace mq::calib
