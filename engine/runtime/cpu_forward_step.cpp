// One step of CpuForward over a batch of tokens (of one sequence or of
// several): embedding, each layer's attention and feed-forward blocks with
// their linears run as batched products, then the output head for the rows
// whose logits are asked for.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <initializer_list>

#include "core/error.hpp"
#include "cpu/sliced_matmul.hpp"
#include "cpu/vector_math.hpp"
#include "runtime/cpu_forward.hpp"
#include "runtime/cpu_forward_step.hpp"
#include "runtime/cpu_ops.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

void CpuForward::run_step(std::span<const uint32_t> tokens, std::span<const KvPlace> places,
                          const DepthChoice& choice, std::span<const uint32_t> logit_rows,
                          float* logits, std::vector<TokenDepths>* used) {
    const ModelDesc& d = desc_;
    const uint32_t T = static_cast<uint32_t>(tokens.size());
    const uint32_t dim = d.dim, q_dim = d.q_dim(), kv_dim = d.kv_dim(), ffn = d.ffn_dim;
    for (uint32_t t : tokens)
        if (t >= d.vocab_size) fail("token id {} is outside the vocabulary ({})", t, d.vocab_size);
    const bool routed = choice.thresholds != nullptr;
    if (!routed)
        for (const TokenDepths& td : choice.given) {
            if (td.size() != d.n_layers)
                fail("depths cover {} layers, the model has {}", td.size(), d.n_layers);
            for (uint32_t l = 0; l < d.n_layers; ++l)
                for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
                    if (td[l][j] < 1 || td[l][j] > quant::kSlices)
                        fail("depth {} for layer {} linear {} is outside 1..4", td[l][j], l,
                             linear_name(static_cast<rt::Linear>(j)));
        }
    if (!step_) step_ = std::make_unique<Step>(d, max_batch_);
    Step& s = *step_;
    std::vector<TokenDepths> chosen(routed ? T : 0, TokenDepths(d.n_layers));
    // Runs fn, timed under `label` when profiling.
    auto timed = [&](const char* label, auto&& fn) {
        if (!profile_) return fn();
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        profile_->add(
            label, T,
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
    };

    timed("embed", [&] {
        for (uint32_t t = 0; t < T; ++t)
            std::memcpy(s.x.data() + uint64_t(t) * dim,
                        embedding_.data() + uint64_t(tokens[t]) * dim, dim * sizeof(float));
    });

    // Quantizes `in` ([T][cols]) once for the linears that share it.
    auto prepare_input = [&](const std::vector<float>& in, uint32_t cols) {
        if (sliced_)
            timed("int8 activations", [&] { cpu::quantize_activations(in.data(), T, cols, s.qa); });
    };
    // outs[i] = W_i in (+ bias) for every token, each at its depth, for linears that share the
    // input `in` (sliced ones in one pool call).
    auto linears = [&](uint32_t layer, std::initializer_list<rt::Linear> which,
                       const std::vector<float>& in,
                       std::initializer_list<std::vector<float>*> outs) {
        std::vector<cpu::SlicedProduct> products;
        auto out = outs.begin();
        for (rt::Linear lw : which) {
            const uint32_t j = static_cast<uint32_t>(lw);
            const Linear& lin = layers_[layer].linear[j];
            std::vector<float>& y = **out++;
            if (!lin.sliced) {
                timed("dense linear",
                      [&] { cpu::dense_matmul(*lin.dense, in.data(), T, y.data(), *pool_); });
                continue;
            }
            std::vector<uint8_t>& depths = s.depths[products.size()];
            timed(routed ? "routers" : "depths", [&] {
                for (uint32_t t = 0; t < T; ++t) {
                    uint8_t depth;
                    if (routed) {
                        const float* th = choice.thresholds + uint64_t(t) * choice.threshold_stride;
                        const uint32_t index = layer * kLinearsPerLayer + j;
                        depth = routed_depth(lin.router->scores(std::span(in).subspan(
                                                 uint64_t(t) * lin.router->in, lin.router->in)),
                                             th[index]);
                        chosen[t][layer][j] = depth;
                    } else {
                        depth = choice.given[t][layer][j];
                    }
                    depths[t] = depth;
                }
            });
            products.push_back({&*lin.sliced, std::span(depths).first(T), y.data()});
        }
        if (!products.empty())
            timed("sliced linear", [&] { cpu::sliced_matmuls(products, s.qa, *pool_); });
        out = outs.begin();
        for (rt::Linear lw : which) {
            const Linear& lin = layers_[layer].linear[static_cast<uint32_t>(lw)];
            std::vector<float>& y = **out++;
            if (lin.bias.empty()) continue;
            const uint32_t rows = static_cast<uint32_t>(lin.bias.size());
            for (uint32_t t = 0; t < T; ++t)
                for (uint32_t r = 0; r < rows; ++r) y[uint64_t(t) * rows + r] += lin.bias[r];
        }
    };
    auto add_residual = [&](const std::vector<float>& y) {
        for (uint64_t i = 0; i < uint64_t(T) * dim; ++i) s.x[i] += y[i];
    };

    const uint32_t rope_dim = d.rope_dim ? d.rope_dim : d.head_dim;
    for (uint32_t l = 0; l < d.n_layers; ++l) {
        const Layer& L = layers_[l];
        // attention block
        timed("rmsnorm",
              [&] { cpu_ops::rmsnorm_rows(s.x.data(), L.attn_norm, d.rms_eps, T, s.h.data()); });
        prepare_input(s.h, dim);
        linears(l, {rt::Linear::Q, rt::Linear::K, rt::Linear::V}, s.h, {&s.q, &s.k, &s.v});
        timed("rope", [&] {
            for (uint32_t t = 0; t < T; ++t) {
                cpu_ops::rope_row(s.q.data() + uint64_t(t) * q_dim, d.n_heads, d.head_dim, rope_dim,
                                  d.rope_layout, places[t].pos, rope_freq_);
                cpu_ops::rope_row(s.k.data() + uint64_t(t) * kv_dim, d.n_kv_heads, d.head_dim,
                                  rope_dim, d.rope_layout, places[t].pos, rope_freq_);
            }
        });
        timed("attention", [&] {
            store_kv(l, places, s.k.data(), s.v.data(), kv_dim);
            attention(d, l, places, s.q.data(), s.att.data(), *pool_);
        });
        prepare_input(s.att, q_dim);
        linears(l, {rt::Linear::O}, s.att, {&s.tmp});
        add_residual(s.tmp);

        // feed-forward block (SwiGLU)
        timed("rmsnorm",
              [&] { cpu_ops::rmsnorm_rows(s.x.data(), L.ffn_norm, d.rms_eps, T, s.h.data()); });
        prepare_input(s.h, dim);
        linears(l, {rt::Linear::Gate, rt::Linear::Up}, s.h, {&s.gate, &s.up});
        timed("swiglu", [&] { cpu::silu_mul(s.gate.data(), s.up.data(), uint64_t(T) * ffn); });
        prepare_input(s.gate, ffn);
        linears(l, {rt::Linear::Down}, s.gate, {&s.tmp});
        add_residual(s.tmp);
    }

    // The output head, for the asked rows only.
    if (!logit_rows.empty()) {
        timed("head", [&] {
            const uint32_t n = static_cast<uint32_t>(logit_rows.size());
            for (uint32_t i = 0; i < n; ++i)
                cpu_ops::rmsnorm_rows(s.x.data() + uint64_t(logit_rows[i]) * dim, output_norm_,
                                      d.rms_eps, 1, s.h.data() + uint64_t(i) * dim);
            if (sliced_head_) {
                cpu::quantize_activations(s.h.data(), n, dim, s.qa);
                std::fill_n(s.depths[0].begin(), n, head_depth_);
                cpu::sliced_matmul(*sliced_head_, s.qa, std::span(s.depths[0]).first(n), logits,
                                   *pool_);
            } else {
                cpu::dense_matmul(*head_, s.h.data(), n, logits, *pool_);
            }
        });
    }
    if (used) {
        if (routed)
            used->insert(used->end(), chosen.begin(), chosen.end());
        else if (sliced_)
            used->insert(used->end(), choice.given.begin(), choice.given.end());
    }
}

}  // namespace mq::rt
