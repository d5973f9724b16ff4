#include "eval/quality_eval.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "calib/calibration_tokens.hpp"
#include "calib/rows.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "quant/rtn.hpp"
#include "runtime/model_session.hpp"
#include "runtime/perplexity.hpp"
#include "runtime/router.hpp"
#include "runtime/vulkan_forward.hpp"

namespace mq::eval {

namespace fs = std::filesystem;
using rt::DepthPolicy;

namespace {

fs::path source_model_of(const LoadedModel& ckpt, const fs::path& given) {
    if (!given.empty()) return given;
    std::string name = ckpt.gguf()->get_string_or("mobiquant.source", "");
    if (name.empty())
        fail("{} does not record its source model: pass the plain model it was made from",
             ckpt.path().string());
    fs::path p = ckpt.path().parent_path() / name;
    if (!fs::exists(p))
        fail("the source model {} of {} is not beside it: pass its path", name,
             ckpt.path().filename().string());
    return p;
}

// Standard error of mean(a) - mean(b) from the paired differences a_t - b_t: both runs score the
// same tokens, so the text's own variance cancels and what remains is the noise of the depth
// choices. Times the routed perplexity (delta method) it is the error of a perplexity difference.
double paired_se(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size() || a.size() < 2) return 0;
    double sum = 0, sq = 0;
    for (size_t t = 0; t < a.size(); ++t) {
        const double d = double(a[t]) - b[t];
        sum += d;
        sq += d * d;
    }
    const double n = double(a.size()), mean = sum / n;
    return std::sqrt(std::max(0.0, sq / n - mean * mean) / (n - 1));
}

}  // namespace

QualityTable run_eval(const rt::ComputeDevice& device, const EvalOptions& o,
                      const JobProgressFn& progress, const std::atomic<bool>* cancel) {
    JobClock clock(progress, cancel);
    auto ckpt = LoadedModel::open(o.model);
    if (!ckpt.desc().mobiquant || !ckpt.gguf())
        fail("{} is not a MoBiQuant checkpoint (make one with `mobiquant quantize`)",
             o.model.string());
    auto fp = LoadedModel::open(source_model_of(ckpt, o.fp_model));
    const ModelDesc& d = ckpt.desc();
    if (fp.desc().mobiquant)
        fail("{} is itself a checkpoint, not a plain model", fp.path().string());
    if (fp.desc().dim != d.dim || fp.desc().n_layers != d.n_layers ||
        fp.desc().vocab_size != d.vocab_size || fp.desc().ffn_dim != d.ffn_dim)
        fail("{} does not have the shape of {}: not its source model", fp.path().string(),
             o.model.filename().string());

    tok::Tokenizer tokenizer(rt::load_tokenizer_spec_of(ckpt));
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::vector<int32_t> ids = tokenizer.encode(o.text, eo);
    if (o.max_tokens && ids.size() > o.max_tokens) ids.resize(o.max_tokens);
    if (ids.size() < 2) fail("the held-out text has {} tokens; eval needs at least 2", ids.size());
    const int32_t bos = tokenizer.bos();
    calib::CalibrationTokens calib = calib::calibration_tokens(
        tokenizer, o.calibration_text, o.calibration_tokens, 256, d.context_length);

    std::vector<double> budgets = o.budgets;
    if (budgets.empty())
        for (int i = 0; i <= 12; ++i) budgets.push_back(2.0 + 0.5 * i);
    for (double b : budgets)
        if (!(b >= 2.0 && b <= 8.0)) fail("budget {} is outside 2.0..8.0", b);

    rt::ModelWeights cw = rt::ModelWeights::load(ckpt);
    if (!cw.routers)
        fail("{} has no routers (checkpoint format 1): quantize the model again",
             o.model.filename().string());

    QualityTable table;
    table.model = o.model.filename().string();
    table.text = o.text_name;
    const double total_runs = 1 + (o.routed_only ? 0 : 8) + 3.0 * budgets.size();
    double runs_done = 0;
    // The full-precision run keeps its log-probabilities; every later run reports its KL from them.
    rt::TokenLogProbs fp_log_probs;
    const bool with_kl =
        rt::kept_log_prob_bytes(ids.size(), d.vocab_size) <= rt::kMaxKeptLogProbBytes;
    auto measure = [&](rt::ForwardBackend& fwd, const rt::ModelWeights& weights,
                       const std::string& stage, DepthPolicy policy,
                       std::vector<rt::TokenDepths>* used = nullptr) {
        clock.report(stage, runs_done / total_runs);
        rt::ScoreCapture capture;
        capture.used_depths = used;
        if (with_kl && fp_log_probs.vocab)
            capture.kl_reference = &fp_log_probs;
        else if (with_kl)
            capture.log_probs = &fp_log_probs;
        rt::PolicyForward forward(fwd, weights.routers, std::move(policy));
        rt::PerplexityResult r = rt::perplexity_of_ids(
            forward, ids, bos, 0,
            [&](uint64_t done, uint64_t total) {
                clock.report(stage, (runs_done + double(done) / total) / total_runs);
            },
            capture);
        runs_done += 1;
        table.tokens = r.tokens;
        return r;
    };
    auto point = [&](double budget, const rt::PerplexityResult& r) {
        return QualityPoint{budget, r.bits, r.ppl, 0, with_kl ? r.kl : -1};
    };
    // A control at the routed bits, with the paired errors of routed minus it.
    auto control = [&](const rt::PerplexityResult& routed, const rt::PerplexityResult& c) {
        QualityPoint p = point(0, c);
        p.se_vs_routed = routed.ppl * paired_se(routed.token_nll, c.token_nll);
        if (with_kl) p.kl_se_vs_routed = paired_se(routed.token_kl, c.token_kl);
        return p;
    };

    // Full precision and the bit-specific baselines, from the source model.
    {
        rt::ModelWeights fw = rt::ModelWeights::load(fp);
        {
            auto fwd = rt::make_forward(device, fw);
            table.fp_ppl = measure(*fwd, fw, "full precision", DepthPolicy::uniform(4)).ppl;
        }
        const std::vector<uint32_t> baseline_bits =
            o.routed_only ? std::vector<uint32_t>{} : std::vector<uint32_t>{2, 4, 6, 8};
        std::vector<std::vector<float>> stats;
        if (!baseline_bits.empty()) {
            clock.report("activation statistics for the baselines", runs_done / total_runs);
            stats = calib::channel_mean_squares(fw, calib.ids, calib.seq_len);
        }
        for (uint32_t bits : baseline_bits) {
            rt::ModelWeights q = fw;
            for (uint32_t l = 0; l < d.n_layers; ++l)
                for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
                    rt::LinearWeights& lin = q.layers[l].linear[j];
                    lin.dense = quant::rtn_quantize(lin.dense, lin.rows, lin.cols, bits,
                                                    stats[l * rt::kLinearsPerLayer + j]);
                }
            auto fwd = rt::make_forward(device, q);
            QualityPoint p = point(0, measure(*fwd, q, fmt::format("bit-specific {} bits", bits),
                                              DepthPolicy::uniform(4)));
            p.bits = bits;
            table.bit_specific.push_back(p);
        }
    }

    // The checkpoint: uniform depths, routed budgets and the two controls at the routed bits.
    auto forward = rt::make_forward(device, cw);
    rt::ForwardBackend& fwd = *forward;
    for (uint8_t k = 1; k <= 4 && !o.routed_only; ++k) {
        auto r = measure(fwd, cw, fmt::format("uniform depth {}", k), DepthPolicy::uniform(k));
        table.uniform.push_back(point(0, r));
    }
    for (double b : budgets) {
        std::vector<rt::TokenDepths> used;
        auto r = measure(fwd, cw, fmt::format("routed {:.1f} bits", b),
                         DepthPolicy::budget(static_cast<float>(b)), &used);
        table.routed.push_back(point(b, r));
        auto dist = rt::depth_distribution(used, d.n_layers);
        table.random.push_back(control(
            r,
            measure(fwd, cw, fmt::format("same allocation, random tokens at {:.2f} bits", r.bits),
                    DepthPolicy::random(dist, o.seed))));
        table.mix.push_back(control(
            r, measure(fwd, cw, fmt::format("mixed depths at {:.2f} bits", r.bits),
                       DepthPolicy::mix(static_cast<float>(std::clamp(r.bits, 2.0, 8.0))))));
    }
    clock.finish();
    return table;
}

}  // namespace mq::eval
