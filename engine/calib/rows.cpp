#include "calib/rows.hpp"

#include <algorithm>
#include <cmath>

#include "calib/blas.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "formats/model_loader.hpp"

namespace mq::calib {

float dot(const float* a, const float* b, uint32_t n) {
    float acc[8] = {};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (uint32_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    for (; i < n; ++i) acc[0] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

Rows matmul_rows(const Rows& x, std::span<const float> w, uint32_t rows) {
    if (w.size() != size_t(rows) * x.width)
        fail("matmul_rows: {} weights for {} rows of {}", w.size(), rows, x.width);
    Rows y(x.n, rows);
    gemm_nt(x.v.data(), w.data(), y.v.data(), x.n, rows, x.width);
    return y;
}

Rows matmul_rows_untransposed(const Rows& dy, std::span<const float> w, uint32_t cols) {
    if (w.size() != size_t(dy.width) * cols)
        fail("matmul_rows_untransposed: {} weights for {} rows of {}", w.size(), dy.width, cols);
    Rows dx(dy.n, cols);
    gemm_nn(dy.v.data(), w.data(), dx.v.data(), dy.n, cols, dy.width);
    return dx;
}

Rows rmsnorm_rows(const Rows& x, std::span<const float> weight, float eps) {
    Rows y(x.n, x.width);
    parallel_for(x.n, [&](uint64_t t0, uint64_t t1) {
        for (uint64_t t = t0; t < t1; ++t) {
            const float* in = x.row(t);
            float* out = y.row(t);
            float scale = 1.0f / std::sqrt(dot(in, in, x.width) / x.width + eps);
            for (uint32_t i = 0; i < x.width; ++i) out[i] = in[i] * scale * weight[i];
        }
    });
    return y;
}

std::vector<std::vector<float>> decode_all_depths(const quant::SlicedMatrix& m) {
    std::vector<std::vector<float>> out;
    decode_all_depths(m, out);
    return out;
}

void decode_all_depths(const quant::SlicedMatrix& m, std::vector<std::vector<float>>& out) {
    // All four depths in one pass over the codes (SlicedMatrix::weight's arithmetic, per row
    // and group instead of per value), rows in parallel.
    out.resize(quant::kSlices);
    for (auto& depth : out) depth.resize(size_t(m.rows) * m.cols);
    const uint32_t groups = m.groups_per_row();
    parallel_for(m.rows, [&](uint64_t r0, uint64_t r1) {
        for (uint64_t r = r0; r < r1; ++r)
            for (uint32_t g = 0; g < groups; ++g) {
                const float s1 = m.scale(uint32_t(r), g), z1 = m.zero(uint32_t(r), g);
                float scale[quant::kSlices], zero[quant::kSlices];
                for (uint32_t k = 1; k <= quant::kSlices; ++k) {
                    scale[k - 1] = quant::depth_scale(s1, k);
                    zero[k - 1] = quant::depth_zero(z1, k);
                }
                const uint32_t c0 = g * quant::kGroupSize,
                               c1 = std::min(m.cols, c0 + quant::kGroupSize);
                for (uint32_t c = c0; c < c1; ++c) {
                    uint32_t q = 0;
                    for (uint32_t k = 0; k < quant::kSlices; ++k) {
                        q = (q << quant::kSliceBits) | m.code(k, uint32_t(r), c);
                        out[k][r * m.cols + c] = scale[k] * (static_cast<float>(q) - zero[k]);
                    }
                }
            }
    });
}

Rows linear_rows(const rt::LinearWeights& lin, const std::vector<std::vector<float>>& decoded,
                 const Rows& x, std::span<const uint8_t> depths) {
    if (x.width != lin.cols)
        fail("linear_rows: {}-wide rows for a {}x{} linear", x.width, lin.rows, lin.cols);
    if (!depths.empty() && depths.size() != x.n)
        fail("linear_rows: {} depths for {} rows", depths.size(), x.n);
    auto weights = [&](uint8_t k) -> const std::vector<float>& {
        const std::vector<float>& w = k == 0 ? lin.dense : decoded.at(k - 1);
        if (w.size() != size_t(lin.rows) * lin.cols)
            fail("linear_rows: no {} weights for the {}x{} linear",
                 k == 0 ? std::string("dense") : fmt::format("depth-{}", k), lin.rows, lin.cols);
        return w;
    };
    Rows y(x.n, lin.rows);
    const bool one_depth = depths.empty() || std::all_of(depths.begin(), depths.end(),
                                                         [&](uint8_t k) { return k == depths[0]; });
    if (one_depth) {
        gemm_nt(x.v.data(), weights(depths.empty() ? 0 : depths[0]).data(), y.v.data(), x.n,
                lin.rows, lin.cols);
    } else {
        // One product per depth over the rows that use it.
        for (uint8_t k = 0; k <= quant::kSlices; ++k) {
            std::vector<uint32_t> picked;
            for (uint32_t t = 0; t < x.n; ++t)
                if (depths[t] == k) picked.push_back(t);
            if (picked.empty()) continue;
            Rows xs(static_cast<uint32_t>(picked.size()), x.width);
            for (uint32_t i = 0; i < xs.n; ++i) std::copy_n(x.row(picked[i]), x.width, xs.row(i));
            Rows ys(xs.n, lin.rows);
            gemm_nt(xs.v.data(), weights(k).data(), ys.v.data(), xs.n, lin.rows, lin.cols);
            for (uint32_t i = 0; i < xs.n; ++i) std::copy_n(ys.row(i), lin.rows, y.row(picked[i]));
        }
    }
    if (!lin.bias.empty())
        for (uint32_t t = 0; t < y.n; ++t)
            for (uint32_t r = 0; r < lin.rows; ++r) y.row(t)[r] += lin.bias[r];
    return y;
}

void rope_rows(Rows& x, const ModelDesc& d, uint32_t heads, uint32_t seq_len, bool inverse) {
    const uint32_t half = d.rope_dim / 2;
    const std::vector<double> freq = d.rope_frequencies(d.rope_dim);
    const bool neox = d.rope_layout == RopeLayout::Neox;
    parallel_for(x.n, [&](uint64_t t0, uint64_t t1) {
        for (uint64_t t = t0; t < t1; ++t) {
            const double pos = double(t % seq_len);
            for (uint32_t h = 0; h < heads; ++h) {
                float* v = x.row(t) + size_t(h) * d.head_dim;
                for (uint32_t i = 0; i < half; ++i) {
                    double angle = pos * freq[i];
                    float c = static_cast<float>(std::cos(angle)),
                          s = static_cast<float>(std::sin(angle));
                    if (inverse) s = -s;
                    uint32_t ia = neox ? i : 2 * i, ib = neox ? i + d.head_dim / 2 : 2 * i + 1;
                    float a = v[ia], b = v[ib];
                    v[ia] = a * c - b * s;
                    v[ib] = a * s + b * c;
                }
            }
        }
    });
}

Rows attention_rows(const Rows& q, const Rows& k, const Rows& v, const ModelDesc& d,
                    uint32_t seq_len) {
    Rows out(q.n, q.width);
    const uint32_t group = d.n_heads / d.n_kv_heads, hd = d.head_dim;
    const float inv_sqrt = 1.0f / std::sqrt(float(hd));
    parallel_for(q.n, [&](uint64_t t0, uint64_t t1) {
        std::vector<float> p(seq_len);
        for (uint64_t t = t0; t < t1; ++t) {
            const uint64_t first = t - t % seq_len;  // this sequence's first row
            for (uint32_t h = 0; h < d.n_heads; ++h) {
                const float* qh = q.row(t) + size_t(h) * hd;
                const size_t kv_off = size_t(h / group) * hd;
                float mx = -INFINITY;
                for (uint64_t s = first; s <= t; ++s) {
                    p[s - first] = dot(qh, k.row(s) + kv_off, hd) * inv_sqrt;
                    mx = std::max(mx, p[s - first]);
                }
                float sum = 0;
                for (uint64_t s = first; s <= t; ++s)
                    sum += p[s - first] = std::exp(p[s - first] - mx);
                float* o = out.row(t) + size_t(h) * hd;
                for (uint64_t s = first; s <= t; ++s) {
                    const float w = p[s - first] / sum;
                    const float* vs = v.row(s) + kv_off;
                    for (uint32_t i = 0; i < hd; ++i) o[i] += w * vs[i];
                }
            }
        }
    });
    return out;
}

void swiglu_rows(Rows& gate, const Rows& up) {
    for (size_t i = 0; i < gate.v.size(); ++i) {
        float a = gate.v[i];
        gate.v[i] = a / (1.0f + std::exp(-a)) * up.v[i];
    }
}

void add_rows(Rows& x, const Rows& y) {
    for (size_t i = 0; i < x.v.size(); ++i) x.v[i] += y.v[i];
}

}  // namespace mq::calib

namespace mq::calib {

void layer_pass(const rt::ModelWeights& w, uint32_t l, Rows& x, uint32_t seq_len,
                const LinearFn& linear) {
    layer_pass(w.desc, w.layers[l], l, x, seq_len, linear);
}

void layer_pass(const ModelDesc& d, const rt::LayerWeights& L, uint32_t l, Rows& x,
                uint32_t seq_len, const LinearFn& linear) {
    using rt::Linear;
    Rows h = rmsnorm_rows(x, L.attn_norm, d.rms_eps);
    Rows q = linear(l, Linear::Q, h);
    Rows k = linear(l, Linear::K, h);
    Rows v = linear(l, Linear::V, h);
    rope_rows(q, d, d.n_heads, seq_len);
    rope_rows(k, d, d.n_kv_heads, seq_len);
    Rows att = attention_rows(q, k, v, d, seq_len);
    add_rows(x, linear(l, Linear::O, att));
    h = rmsnorm_rows(x, L.ffn_norm, d.rms_eps);
    Rows gate = linear(l, Linear::Gate, h);
    Rows up = linear(l, Linear::Up, h);
    swiglu_rows(gate, up);
    add_rows(x, linear(l, Linear::Down, gate));
}

Rows embed_rows(const rt::ModelWeights& w, std::span<const uint32_t> tokens) {
    const uint32_t dim = w.desc.dim;
    Rows x(static_cast<uint32_t>(tokens.size()), dim);
    for (uint32_t t = 0; t < x.n; ++t) {
        if (tokens[t] >= w.desc.vocab_size) fail("token {} is outside the vocabulary", tokens[t]);
        std::copy_n(w.token_embd.data() + size_t(tokens[t]) * dim, dim, x.row(t));
    }
    return x;
}

Rows embed_rows(const LoadedModel& model, std::span<const uint32_t> tokens) {
    const ModelDesc& d = model.desc();
    for (uint32_t t : tokens)
        if (t >= d.vocab_size) fail("token {} is outside the vocabulary", t);
    const ModelTensor& embd = model.get("token_embd.weight");
    Rows x;
    x.n = static_cast<uint32_t>(tokens.size());
    x.width = d.dim;
    x.v = model.rows_to_f32(embd, tokens);
    model.drop_pages(embd);
    if (x.v.size() != size_t(x.n) * x.width)
        fail("token_embd.weight rows have {} values; the model's dim is {}",
             x.n ? x.v.size() / x.n : 0, d.dim);
    return x;
}

std::vector<float> mean_squares(const Rows& x) {
    std::vector<double> acc(x.width, 0.0);
    for (uint32_t t = 0; t < x.n; ++t)
        for (uint32_t i = 0; i < x.width; ++i) acc[i] += double(x.row(t)[i]) * x.row(t)[i];
    std::vector<float> out(x.width);
    for (uint32_t i = 0; i < x.width; ++i) out[i] = static_cast<float>(acc[i] / std::max(1u, x.n));
    return out;
}

std::vector<std::vector<float>> channel_mean_squares(const rt::ModelWeights& w,
                                                     std::span<const uint32_t> tokens,
                                                     uint32_t seq_len) {
    std::vector<std::vector<float>> stats(w.layers.size() * rt::kLinearsPerLayer);
    Rows x = embed_rows(w, tokens);
    const std::vector<std::vector<float>> none;
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        layer_pass(w, l, x, seq_len, [&](uint32_t layer, rt::Linear j, const Rows& in) {
            stats[layer * rt::kLinearsPerLayer + static_cast<uint32_t>(j)] = mean_squares(in);
            return linear_rows(w.layers[layer][j], none, in, {});
        });
    return stats;
}

}  // namespace mq::calib
