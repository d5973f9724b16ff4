#include "calib/linear_sensitivity.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace mq::calib {

using rt::Linear;

std::vector<float> residual_error_weights(const Rows& residual) {
    std::vector<float> w(residual.n);
    for (uint32_t t = 0; t < residual.n; ++t) {
        const float* r = residual.row(t);
        float ms = dot(r, r, residual.width) / std::max(1u, residual.width);
        w[t] = 1.0f / (ms + 1e-6f);
    }
    return w;
}

bool weights_errors_by_residual(Linear linear) {
    // o and down add their output to the residual stream directly.
    return linear == Linear::O || linear == Linear::Down;
}

double mean_next_token_nll(const rt::ModelWeights& w, const Rows& residual,
                           std::span<const uint32_t> tokens, uint32_t seq_len) {
    if (residual.n != tokens.size() || seq_len == 0)
        fail("{} residual rows for {} tokens", residual.n, tokens.size());
    Rows h = rmsnorm_rows(residual, w.output_norm, w.desc.rms_eps);
    const uint32_t vocab = w.desc.vocab_size;
    Rows logits = matmul_rows(h, w.output_weights(), vocab);
    std::vector<double> nll(h.n, 0.0);
    parallel_for(h.n, [&](uint64_t t0, uint64_t t1) {
        for (uint64_t t = t0; t < t1; ++t) {
            if (t % seq_len == seq_len - 1) continue;
            const float* z = logits.row(static_cast<uint32_t>(t));
            float mx = *std::max_element(z, z + vocab);
            double sum = 0;
            for (uint32_t i = 0; i < vocab; ++i) sum += std::exp(double(z[i]) - mx);
            nll[t] = mx + std::log(sum) - z[tokens[t + 1]];
        }
    });
    double total = 0;
    uint64_t count = 0;
    for (uint32_t t = 0; t < h.n; ++t)
        if (t % seq_len != seq_len - 1) {
            total += nll[t];
            ++count;
        }
    return count ? total / double(count) : 0.0;
}

std::vector<float> linear_log_sensitivities(const rt::ModelWeights& w,
                                            std::span<const uint32_t> tokens, uint32_t seq_len,
                                            const SensitivityOptions& o,
                                            const std::function<void(uint32_t)>& step) {
    if (o.probe_depth < 1 || o.probe_depth > quant::kSlices)
        fail("probe depth {} is outside 1..{}", o.probe_depth, quant::kSlices);
    if (seq_len < 2 || tokens.size() % seq_len)
        fail("sensitivity tokens must fill whole sequences of {} (at least 2)", seq_len);
    const uint32_t n_layers = static_cast<uint32_t>(w.layers.size());
    const std::vector<std::vector<float>> none;
    auto dense = [&](uint32_t l, Linear j, const Rows& in) {
        return linear_rows(w.layers[l][j], none, in, {});
    };
    // Full-precision residual stream at the start of every layer, and the unperturbed loss.
    std::vector<Rows> layer_inputs(n_layers);
    Rows x = embed_rows(w, tokens);
    for (uint32_t l = 0; l < n_layers; ++l) {
        layer_inputs[l] = x;
        layer_pass(w, l, x, seq_len, dense);
    }
    const double base = mean_next_token_nll(w, x, tokens, seq_len);

    std::vector<double> ratio(size_t(n_layers) * rt::kLinearsPerLayer, 0.0);
    for (uint32_t l = 0; l < n_layers; ++l)
        for (uint32_t jj = 0; jj < rt::kLinearsPerLayer; ++jj) {
            const Linear j = static_cast<Linear>(jj);
            const uint32_t index = l * rt::kLinearsPerLayer + jj;
            if (step) step(index);
            const rt::LinearWeights& lin = w.layers[l][j];
            if (!lin.sliced || lin.dense.size() != size_t(lin.rows) * lin.cols)
                fail("layer {} {}: sensitivity needs both the dense and the sliced weights", l,
                     rt::linear_name(j));
            // W - D is the probe depth's weight; W + D its mirror image around W.
            rt::LinearWeights minus = lin, plus = lin;
            minus.dense = lin.sliced->dequantize(o.probe_depth);
            minus.sliced.reset();
            plus.sliced.reset();
            for (size_t i = 0; i < plus.dense.size(); ++i)
                plus.dense[i] = 2.0f * lin.dense[i] - minus.dense[i];
            double loss_sum = 0, err = 0;
            for (const rt::LinearWeights* probe : {&minus, &plus}) {
                Rows y = layer_inputs[l];
                for (uint32_t l2 = l; l2 < n_layers; ++l2)
                    layer_pass(w, l2, y, seq_len, [&](uint32_t layer, Linear k, const Rows& in) {
                        if (layer != l || k != j) return dense(layer, k, in);
                        Rows out = linear_rows(*probe, none, in, {});
                        if (probe == &minus) {
                            // y is the residual stream this output is about to be added to.
                            std::vector<float> tw = weights_errors_by_residual(j)
                                                        ? residual_error_weights(y)
                                                        : std::vector<float>(in.n, 1.0f);
                            Rows ref = dense(layer, k, in);
                            for (uint32_t t = 0; t < in.n; ++t) {
                                double e = 0;
                                for (uint32_t r = 0; r < out.width; ++r) {
                                    double d = double(out.row(t)[r]) - ref.row(t)[r];
                                    e += d * d;
                                }
                                err += tw[t] * e;
                            }
                        }
                        return out;
                    });
                loss_sum += mean_next_token_nll(w, y, tokens, seq_len);
            }
            const double curvature = 0.5 * loss_sum - base;
            err /= std::max<size_t>(1, tokens.size());
            ratio[index] = curvature > 0 && err > 0 ? curvature / err : 0.0;
        }
    double smallest = 0;
    for (double r : ratio)
        if (r > 0) smallest = smallest > 0 ? std::min(smallest, r) : r;
    if (smallest <= 0) fail("no linear changes the loss measurably: the sensitivities are all 0");
    std::vector<float> out(ratio.size());
    for (size_t i = 0; i < ratio.size(); ++i)
        out[i] = static_cast<float>(std::log(ratio[i] > 0 ? ratio[i] : smallest / 100.0));
    return out;
}

}  // namespace mq::calib
