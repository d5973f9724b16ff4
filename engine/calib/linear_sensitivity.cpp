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

}  // namespace mq::calib
