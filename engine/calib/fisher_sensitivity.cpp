#include "calib/fisher_sensitivity.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "calib/linear_sensitivity.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"

namespace mq::calib {

using rt::Linear;

double LinearCurvature::curvature(CurvatureForm form) const {
    switch (form) {
        case CurvatureForm::PerToken:
            return per_token;
        case CurvatureForm::PerSequence:
            return per_sequence;
        case CurvatureForm::Diagonal:
            return diagonal;
    }
    return 0;
}

namespace {

// Sums over tokens for one linear and depth, turned into means at the end.
struct Sums {
    double error = 0, per_token = 0, per_sequence = 0, diagonal = 0;
};

// dL/dlogits for one position: a Gaussian draw with covariance diag(p) - p p^T, or the data
// NLL's gradient.
LogitGradientFn logit_gradient(const FisherOptions& o, std::span<const uint32_t> tokens,
                               uint32_t seq_len, uint32_t sample) {
    if (o.target == CurvatureTarget::DataNll)
        return [tokens, seq_len](uint32_t t, std::span<float> p) {
            if (t % seq_len == seq_len - 1) {
                std::fill(p.begin(), p.end(), 0.0f);  // no next token
                return;
            }
            p[tokens[t + 1]] -= 1.0f;
        };
    return [seed = o.seed, sample](uint32_t t, std::span<float> p) {
        // One generator per (draw, position): the same draws whatever the threading.
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + (uint64_t(sample) << 32) + t);
        std::normal_distribution<float> normal;
        thread_local std::vector<float> e;
        e.resize(p.size());
        double proj = 0;  // sqrt(p) . e
        for (size_t i = 0; i < p.size(); ++i) {
            e[i] = normal(rng);
            proj += std::sqrt(double(p[i])) * e[i];
        }
        for (size_t i = 0; i < p.size(); ++i)
            p[i] = std::sqrt(p[i]) * e[i] - p[i] * static_cast<float>(proj);
    };
}

}  // namespace

std::vector<std::vector<LinearCurvature>> linear_curvatures(
    const WeightSource& w, std::span<const uint32_t> tokens, uint32_t seq_len,
    const FisherOptions& o, const std::function<void(uint32_t, uint32_t)>& step) {
    if (o.depths.empty()) fail("no probe depth given");
    for (uint32_t k : o.depths)
        if (k < 1 || k > quant::kSlices) fail("probe depth {} is outside 1..{}", k, quant::kSlices);
    if (o.samples < 1) fail("at least one draw of the targets is needed");
    if (seq_len < 2 || tokens.empty() || tokens.size() % seq_len)
        fail("sensitivity tokens must fill whole sequences of {} (at least 2)", seq_len);
    const uint32_t n_layers = w.desc.n_layers, n = static_cast<uint32_t>(tokens.size());
    const uint32_t samples = o.target == CurvatureTarget::DataNll ? 1 : o.samples;
    std::vector<LogitGradientFn> draws;
    for (uint32_t s = 0; s < samples; ++s) draws.push_back(logit_gradient(o, tokens, seq_len, s));

    std::vector<std::vector<Sums>> sums(o.depths.size(),
                                        std::vector<Sums>(size_t(n_layers) * rt::kLinearsPerLayer));
    // Output errors of the current layer's linears at every probed depth, made at a linear's
    // first draw and freed after its last (model_backward runs every draw of a layer before
    // the next layer), so no layer's errors outlive it.
    std::vector<std::vector<Rows>> errors(rt::kLinearsPerLayer);
    auto output_errors = [&](uint32_t l, Linear j, const Rows& in) -> const std::vector<Rows>& {
        auto& e = errors[static_cast<uint32_t>(j)];
        if (!e.empty()) return e;
        const rt::LinearWeights& lin = w.layer(l)[j];
        if (!lin.sliced || lin.dense.size() != size_t(lin.rows) * lin.cols)
            fail("layer {} {}: sensitivity needs both the dense and the sliced weights", l,
                 rt::linear_name(j));
        for (uint32_t k : o.depths) {
            std::vector<float> diff = lin.sliced->dequantize(k);
            for (size_t i = 0; i < diff.size(); ++i) diff[i] = lin.dense[i] - diff[i];
            e.push_back(matmul_rows(in, diff, lin.rows));
        }
        return e;
    };
    model_backward(
        w, tokens, seq_len, draws,
        [&](uint32_t l, uint32_t s, Linear j, const Rows& in, const Rows& g, const Rows& residual) {
            const auto& dys = output_errors(l, j, in);
            const std::vector<float> tw =
                o.residual_weights && weights_errors_by_residual(j) && residual.n
                    ? residual_error_weights(residual)
                    : std::vector<float>(in.n, 1.0f);
            for (size_t di = 0; di < dys.size(); ++di) {
                const Rows& dy = dys[di];
                std::vector<double> gd(n), diag(n), err(n);
                parallel_for(n, [&](uint64_t t0, uint64_t t1) {
                    for (uint64_t t = t0; t < t1; ++t) {
                        const float* gt = g.row(static_cast<uint32_t>(t));
                        const float* et = dy.row(static_cast<uint32_t>(t));
                        double a = 0, b = 0, c = 0;
                        for (uint32_t r = 0; r < dy.width; ++r) {
                            const double p = double(gt[r]) * et[r];
                            a += p;
                            b += p * p;
                            c += double(et[r]) * et[r];
                        }
                        gd[t] = a;
                        diag[t] = b;
                        err[t] = tw[t] * c;
                    }
                });
                Sums& acc = sums[di][l * rt::kLinearsPerLayer + static_cast<uint32_t>(j)];
                for (uint32_t t0 = 0; t0 < n; t0 += seq_len) {
                    double seq = 0;
                    for (uint32_t t = t0; t < t0 + seq_len; ++t) {
                        seq += gd[t];
                        acc.per_token += gd[t] * gd[t];
                        acc.diagonal += diag[t];
                        if (s == 0) acc.error += err[t];
                    }
                    acc.per_sequence += seq * seq;
                }
            }
            // The last draw is done with this linear's errors: free them before the next
            // linear's (gate's and up's are n x ffn x depths floats each).
            if (s + 1 == samples) errors[static_cast<uint32_t>(j)].clear();
        },
        step);

    // Positions whose logits carry a target: every one, or all but each sequence's last.
    const double positions =
        o.target == CurvatureTarget::DataNll ? double(n - n / seq_len) : double(n);
    std::vector<std::vector<LinearCurvature>> out(o.depths.size());
    for (size_t di = 0; di < sums.size(); ++di)
        for (const Sums& s : sums[di]) {
            LinearCurvature c;
            c.error = s.error / n;
            c.per_token = 0.5 * s.per_token / (positions * samples);
            c.per_sequence = 0.5 * s.per_sequence / (positions * samples);
            c.diagonal = 0.5 * s.diagonal / (positions * samples);
            out[di].push_back(c);
        }
    return out;
}

std::vector<float> log_sensitivities(const std::vector<LinearCurvature>& stats,
                                     CurvatureForm form) {
    std::vector<double> ratio(stats.size(), 0.0);
    double smallest = 0;
    for (size_t i = 0; i < stats.size(); ++i) {
        const double c = stats[i].curvature(form), e = stats[i].error;
        ratio[i] = c > 0 && e > 0 && std::isfinite(c / e) ? c / e : 0.0;
        if (ratio[i] > 0) smallest = smallest > 0 ? std::min(smallest, ratio[i]) : ratio[i];
    }
    if (smallest <= 0) fail("no linear changes the loss measurably: the sensitivities are all 0");
    std::vector<float> out(ratio.size());
    for (size_t i = 0; i < ratio.size(); ++i)
        out[i] = static_cast<float>(std::log(ratio[i] > 0 ? ratio[i] : smallest / 100.0));
    return out;
}

}  // namespace mq::calib
