#include "calib/layer_backward.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace mq::calib {

using rt::Linear;

WeightSource WeightSource::of(const rt::ModelWeights& w) {
    WeightSource s;
    s.desc = w.desc;
    s.token_embd = w.token_embd;
    s.output_norm = w.output_norm;
    s.output = w.output_weights();
    s.layer = [&w](uint32_t l) -> const rt::LayerWeights& {
        if (l >= w.layers.size()) fail("layer {} of {}", l, w.layers.size());
        return w.layers[l];
    };
    return s;
}

namespace {

Rows dense_linear(const rt::LinearWeights& lin, const Rows& x) {
    if (lin.dense.size() != size_t(lin.rows) * lin.cols)
        fail("a {} x {} linear has no dense weights", lin.rows, lin.cols);
    Rows y = matmul_rows(x, lin.dense, lin.rows);
    if (!lin.bias.empty())
        for (uint32_t t = 0; t < y.n; ++t)
            for (uint32_t r = 0; r < y.width; ++r) y.row(t)[r] += lin.bias[r];
    return y;
}

// dL/d(input) of a linear from dL/d(output).
Rows input_gradient(const rt::LinearWeights& lin, const Rows& dy) {
    return matmul_rows_untransposed(dy, lin.dense, lin.cols);
}

float sigmoid(float a) {
    return 1.0f / (1.0f + std::exp(-a));
}

}  // namespace

LayerTrace traced_layer_forward(const ModelDesc& d, const rt::LayerWeights& L, Rows& x,
                                uint32_t seq_len) {
    LayerTrace tr;
    tr.h1 = rmsnorm_rows(x, L.attn_norm, d.rms_eps);
    tr.q = dense_linear(L[Linear::Q], tr.h1);
    tr.k = dense_linear(L[Linear::K], tr.h1);
    tr.v = dense_linear(L[Linear::V], tr.h1);
    rope_rows(tr.q, d, d.n_heads, seq_len);
    rope_rows(tr.k, d, d.n_kv_heads, seq_len);
    tr.att = attention_rows(tr.q, tr.k, tr.v, d, seq_len);
    add_rows(x, dense_linear(L[Linear::O], tr.att));
    tr.mid = x;
    tr.h2 = rmsnorm_rows(x, L.ffn_norm, d.rms_eps);
    tr.gate = dense_linear(L[Linear::Gate], tr.h2);
    tr.up = dense_linear(L[Linear::Up], tr.h2);
    tr.act = tr.gate;
    swiglu_rows(tr.act, tr.up);
    add_rows(x, dense_linear(L[Linear::Down], tr.act));
    return tr;
}

Rows rmsnorm_backward(const Rows& x, std::span<const float> weight, float eps, const Rows& dy) {
    // y_i = x_i s w_i with s = (mean x^2 + eps)^-1/2, so with u_i = dy_i w_i:
    // dx_i = s u_i - x_i s^3 (x . u) / n.
    Rows dx(x.n, x.width);
    parallel_for(x.n, [&](uint64_t t0, uint64_t t1) {
        std::vector<float> u(x.width);
        for (uint64_t t = t0; t < t1; ++t) {
            const float* in = x.row(t);
            const float* g = dy.row(t);
            for (uint32_t i = 0; i < x.width; ++i) u[i] = g[i] * weight[i];
            const float s = 1.0f / std::sqrt(dot(in, in, x.width) / x.width + eps);
            const float c = s * s * s * dot(in, u.data(), x.width) / x.width;
            float* out = dx.row(t);
            for (uint32_t i = 0; i < x.width; ++i) out[i] = s * u[i] - c * in[i];
        }
    });
    return dx;
}

void rope_backward(Rows& dx, const ModelDesc& d, uint32_t heads, uint32_t seq_len) {
    // RoPE rotates each pair by +angle; its transpose rotates the gradient by -angle.
    rope_rows(dx, d, heads, seq_len, /*inverse=*/true);
}

void attention_backward(const Rows& q, const Rows& k, const Rows& v, const Rows& d_out,
                        const ModelDesc& d, uint32_t seq_len, Rows& dq, Rows& dk, Rows& dv) {
    const uint32_t group = d.n_heads / d.n_kv_heads, hd = d.head_dim;
    const float inv_sqrt = 1.0f / std::sqrt(float(hd));
    dq = Rows(q.n, q.width);
    dk = Rows(k.n, k.width);
    dv = Rows(v.n, v.width);
    const uint32_t sequences = q.n / seq_len;
    // One task per (sequence, kv head): it alone writes that kv head's dk/dv rows of that
    // sequence and the dq of the query heads that share it.
    parallel_for(uint64_t(sequences) * d.n_kv_heads, [&](uint64_t i0, uint64_t i1) {
        std::vector<float> p(seq_len), dp(seq_len);
        for (uint64_t i = i0; i < i1; ++i) {
            const uint64_t first = (i / d.n_kv_heads) * seq_len;
            const uint32_t g = static_cast<uint32_t>(i % d.n_kv_heads);
            const size_t kv_off = size_t(g) * hd;
            for (uint32_t h = g * group; h < (g + 1) * group; ++h) {
                const size_t q_off = size_t(h) * hd;
                for (uint64_t t = first; t < first + seq_len; ++t) {
                    const float* qt = q.row(t) + q_off;
                    const float* dot_t = d_out.row(t) + q_off;
                    const uint32_t n = static_cast<uint32_t>(t - first + 1);
                    float mx = -INFINITY;
                    for (uint32_t s = 0; s < n; ++s) {
                        p[s] = dot(qt, k.row(first + s) + kv_off, hd) * inv_sqrt;
                        mx = std::max(mx, p[s]);
                    }
                    float sum = 0;
                    for (uint32_t s = 0; s < n; ++s) sum += p[s] = std::exp(p[s] - mx);
                    // dP_s = dO . v_s; dS_s = P_s (dP_s - sum_s' P_s' dP_s').
                    float mean_dp = 0;
                    for (uint32_t s = 0; s < n; ++s) {
                        p[s] /= sum;
                        dp[s] = dot(dot_t, v.row(first + s) + kv_off, hd);
                        mean_dp += p[s] * dp[s];
                    }
                    float* dqt = dq.row(t) + q_off;
                    for (uint32_t s = 0; s < n; ++s) {
                        const float ds = p[s] * (dp[s] - mean_dp) * inv_sqrt;
                        const float* ks = k.row(first + s) + kv_off;
                        float* dks = dk.row(first + s) + kv_off;
                        float* dvs = dv.row(first + s) + kv_off;
                        for (uint32_t c = 0; c < hd; ++c) {
                            dqt[c] += ds * ks[c];
                            dks[c] += ds * qt[c];
                            dvs[c] += p[s] * dot_t[c];
                        }
                    }
                }
            }
        }
    });
}

Rows layer_backward(const ModelDesc& d, const rt::LayerWeights& L, const Rows& x_in,
                    const LayerTrace& tr, const Rows& grad_out, uint32_t seq_len,
                    const LinearGradientFn& grad) {
    const Rows none;
    // x_out = mid + down(act): the residual passes grad_out through unchanged.
    grad(Linear::Down, tr.act, grad_out, tr.mid);
    Rows d_act = input_gradient(L[Linear::Down], grad_out);
    // act = silu(gate) * up.
    Rows d_gate(d_act.n, d_act.width), d_up(d_act.n, d_act.width);
    parallel_for(d_act.v.size(), [&](uint64_t i0, uint64_t i1) {
        for (uint64_t i = i0; i < i1; ++i) {
            const float a = tr.gate.v[i], sg = sigmoid(a);
            d_up.v[i] = d_act.v[i] * a * sg;
            d_gate.v[i] = d_act.v[i] * tr.up.v[i] * sg * (1.0f + a * (1.0f - sg));
        }
    });
    d_act = {};
    grad(Linear::Up, tr.h2, d_up, none);
    grad(Linear::Gate, tr.h2, d_gate, none);
    Rows d_h2 = input_gradient(L[Linear::Up], d_up);
    add_rows(d_h2, input_gradient(L[Linear::Gate], d_gate));
    d_up = {};
    d_gate = {};
    Rows d_mid = rmsnorm_backward(tr.mid, L.ffn_norm, d.rms_eps, d_h2);
    add_rows(d_mid, grad_out);
    d_h2 = {};

    // mid = x_in + o(att).
    grad(Linear::O, tr.att, d_mid, x_in);
    Rows d_att = input_gradient(L[Linear::O], d_mid);
    Rows dq, dk, dv;
    attention_backward(tr.q, tr.k, tr.v, d_att, d, seq_len, dq, dk, dv);
    d_att = {};
    rope_backward(dq, d, d.n_heads, seq_len);
    rope_backward(dk, d, d.n_kv_heads, seq_len);
    grad(Linear::V, tr.h1, dv, none);
    grad(Linear::K, tr.h1, dk, none);
    grad(Linear::Q, tr.h1, dq, none);
    Rows d_h1 = input_gradient(L[Linear::Q], dq);
    add_rows(d_h1, input_gradient(L[Linear::K], dk));
    add_rows(d_h1, input_gradient(L[Linear::V], dv));
    Rows d_in = rmsnorm_backward(x_in, L.attn_norm, d.rms_eps, d_h1);
    add_rows(d_in, d_mid);
    return d_in;
}

Rows head_backward(const WeightSource& w, const Rows& x, const LogitGradientFn& logit_grad,
                   size_t max_logit_bytes) {
    const uint32_t vocab = w.desc.vocab_size, dim = w.desc.dim;
    if (x.width != dim) fail("{} residual values per token for a model of width {}", x.width, dim);
    if (w.output.size() != size_t(vocab) * dim)
        fail("the output head has {} values, not {} x {}", w.output.size(), vocab, dim);
    const uint32_t chunk = static_cast<uint32_t>(
        std::clamp<size_t>(max_logit_bytes / (sizeof(float) * size_t(vocab)), 1, x.n));
    Rows dx(x.n, dim);
    for (uint32_t t0 = 0; t0 < x.n; t0 += chunk) {
        const uint32_t n = std::min(chunk, x.n - t0);
        Rows xs(n, dim);
        std::copy_n(x.row(t0), size_t(n) * dim, xs.v.data());
        Rows h = rmsnorm_rows(xs, w.output_norm, w.desc.rms_eps);
        Rows logits = matmul_rows(h, w.output, vocab);
        parallel_for(n, [&](uint64_t r0, uint64_t r1) {
            for (uint64_t r = r0; r < r1; ++r) {
                float* z = logits.row(static_cast<uint32_t>(r));
                const float mx = *std::max_element(z, z + vocab);
                double sum = 0;
                for (uint32_t i = 0; i < vocab; ++i) sum += z[i] = std::exp(z[i] - mx);
                const float inv = static_cast<float>(1.0 / sum);
                for (uint32_t i = 0; i < vocab; ++i) z[i] *= inv;
                logit_grad(static_cast<uint32_t>(t0 + r), {z, vocab});
            }
        });
        Rows dh = matmul_rows_untransposed(logits, w.output, dim);
        logits = {};
        Rows dxs = rmsnorm_backward(xs, w.output_norm, w.desc.rms_eps, dh);
        std::copy_n(dxs.v.data(), dxs.v.size(), dx.row(t0));
    }
    return dx;
}

void model_backward(const WeightSource& w, std::span<const uint32_t> tokens, uint32_t seq_len,
                    std::span<const LogitGradientFn> draws, const ModelGradientFn& grad,
                    const std::function<void(uint32_t, uint32_t)>& step) {
    if (seq_len == 0 || tokens.empty() || tokens.size() % seq_len)
        fail("{} tokens do not fill whole sequences of {}", tokens.size(), seq_len);
    const ModelDesc& d = w.desc;
    const uint32_t n_layers = d.n_layers, n = static_cast<uint32_t>(tokens.size());
    const uint32_t stages = 2 * n_layers + 1;
    uint32_t stage = 0;
    auto report = [&] {
        if (step) step(stage++, stages);
    };
    std::vector<Rows> inputs(n_layers);
    for (uint32_t t : tokens)
        if (t >= d.vocab_size) fail("token {} is outside the vocabulary", t);
    Rows x(n, d.dim);
    if (w.embed)
        x = w.embed(tokens);
    else
        for (uint32_t t = 0; t < n; ++t)
            std::copy_n(w.token_embd.data() + size_t(tokens[t]) * d.dim, d.dim, x.row(t));
    for (uint32_t l = 0; l < n_layers; ++l) {
        report();
        inputs[l] = x;
        traced_layer_forward(d, w.layer(l), x, seq_len);
    }
    report();
    std::vector<Rows> dx;
    for (const LogitGradientFn& draw : draws) dx.push_back(head_backward(w, x, draw));
    x = {};
    for (uint32_t l = n_layers; l-- > 0;) {
        report();
        const rt::LayerWeights& L = w.layer(l);
        Rows y = inputs[l];
        const LayerTrace trace = traced_layer_forward(d, L, y, seq_len);
        y = {};
        for (uint32_t s = 0; s < dx.size(); ++s)
            dx[s] = layer_backward(d, L, inputs[l], trace, dx[s], seq_len,
                                   [&](Linear j, const Rows& in, const Rows& g, const Rows& r) {
                                       grad(l, s, j, in, g, r);
                                   });
        inputs[l] = {};
    }
}

}  // namespace mq::calib
