#include "runtime/reference_forward.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace mq::rt {

namespace {

// Matrices smaller than this run on one thread: starting threads costs more than the work.
constexpr uint64_t kParallelMinElements = 1u << 18;

void for_rows(uint32_t rows, uint64_t elements, auto&& fn) {
    if (elements < kParallelMinElements) {
        fn(uint64_t{0}, uint64_t{rows});
    } else {
        parallel_for(rows, fn);
    }
}

// out[dim] = x * 1/sqrt(mean(x^2) + eps) * weight (the scale rounded to float, as llama.cpp).
void rmsnorm(std::span<const float> x, std::span<const float> weight, double eps,
             std::span<float> out) {
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / double(x.size()) + eps));
    for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] * scale) * weight[i];
}

// sum_i w[i] x[i] in double, with four partial sums (i mod 4) added at the end: the same
// order for dense and decoded MoBiSlice rows, so equal weights give bitwise equal results.
double dot(const float* w, const float* x, uint32_t n) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += double(w[i]) * x[i];
        a1 += double(w[i + 1]) * x[i + 1];
        a2 += double(w[i + 2]) * x[i + 2];
        a3 += double(w[i + 3]) * x[i + 3];
    }
    for (; i < n; ++i) a0 += double(w[i]) * x[i];
    return (a0 + a1) + (a2 + a3);
}

// y[rows] = W[rows][cols] x[cols].
void matvec_dense(std::span<const float> w, uint32_t rows, uint32_t cols, std::span<const float> x,
                  std::span<float> y) {
    for_rows(rows, uint64_t(rows) * cols, [&](uint64_t r0, uint64_t r1) {
        for (uint64_t r = r0; r < r1; ++r)
            y[r] = static_cast<float>(dot(w.data() + r * cols, x.data(), cols));
    });
}

// kLanes[d-1][e][b]: the 4 codes in byte b of slice e's plane word, shifted to their place in
// q(d) (e = 0 is the most significant base-4 digit), one code per 8-bit lane. q(d) <= 255, so
// the lanes never carry: OR-ing the tables of slices 1..d gives 4 values of q(d) at once.
struct LaneTables {
    uint32_t t[quant::kSlices][quant::kSlices][256];
    LaneTables() {
        for (uint32_t d = 1; d <= quant::kSlices; ++d)
            for (uint32_t e = 0; e < d; ++e)
                for (uint32_t b = 0; b < 256; ++b) {
                    uint32_t v = 0;
                    for (uint32_t lane = 0; lane < 4; ++lane)
                        v |= (((b >> (2 * lane)) & 3u) << (2 * (d - 1 - e))) << (8 * lane);
                    t[d - 1][e][b] = v;
                }
    }
};
const LaneTables kLanes;

// Row r of W(Depth) into out[padded_cols]: s_k (q(k) - z'_k) in float, exactly
// SlicedMatrix::weight() (columns past cols decode padding and are not used).
template <uint32_t Depth>
void decode_row(const quant::SlicedMatrix& m, uint64_t r, float* out) {
    using namespace quant;
    const uint32_t words_per_row = m.words_per_row(), groups = m.groups_per_row();
    const uint32_t* planes[Depth];
    for (uint32_t e = 0; e < Depth; ++e) planes[e] = m.planes[e].data() + r * words_per_row;
    for (uint32_t g = 0; g < groups; ++g) {
        const float s = depth_scale(m.scale(uint32_t(r), g), Depth);
        const float z = depth_zero(m.zero(uint32_t(r), g), Depth);
        for (uint32_t w = g * kWordsPerGroup; w < (g + 1) * kWordsPerGroup; ++w) {
            float* o = out + uint64_t(w) * kCodesPerWord;
            for (uint32_t byte = 0; byte < 4; ++byte) {
                uint32_t q4 = 0;  // q(Depth) of 4 columns, one per 8-bit lane
                for (uint32_t e = 0; e < Depth; ++e)
                    q4 |= kLanes.t[Depth - 1][e][(planes[e][w] >> (8 * byte)) & 255u];
                for (uint32_t lane = 0; lane < 4; ++lane)
                    o[4 * byte + lane] = s * (static_cast<float>((q4 >> (8 * lane)) & 255u) - z);
            }
        }
    }
}

// y = W(depth) x, each row decoded to float weights first.
void matvec_sliced(const quant::SlicedMatrix& m, uint32_t depth, std::span<const float> x,
                   std::span<float> y) {
    using Decoder = void (*)(const quant::SlicedMatrix&, uint64_t, float*);
    static constexpr Decoder decoders[] = {decode_row<1>, decode_row<2>, decode_row<3>,
                                           decode_row<4>};
    const Decoder decode = decoders[depth - 1];
    for_rows(m.rows, uint64_t(m.rows) * m.cols, [&](uint64_t r0, uint64_t r1) {
        std::vector<float> row(m.padded_cols());
        for (uint64_t r = r0; r < r1; ++r) {
            decode(m, r, row.data());
            y[r] = static_cast<float>(dot(row.data(), x.data(), m.cols));
        }
    });
}

// Rotates each head of v ([n_heads][head_dim]) by position pos; freq[i] for pair i.
void rope(std::span<float> v, uint32_t n_heads, uint32_t head_dim, RopeLayout layout, uint32_t pos,
          std::span<const double> freq) {
    const uint32_t half = head_dim / 2;
    for (uint32_t h = 0; h < n_heads; ++h) {
        float* head = v.data() + uint64_t(h) * head_dim;
        for (uint32_t i = 0; i < half; ++i) {
            const double angle = double(pos) * freq[i];
            const double c = std::cos(angle), s = std::sin(angle);
            float& a = layout == RopeLayout::Normal ? head[2 * i] : head[i];
            float& b = layout == RopeLayout::Normal ? head[2 * i + 1] : head[i + half];
            const double a0 = a, b0 = b;
            a = static_cast<float>(a0 * c - b0 * s);
            b = static_cast<float>(a0 * s + b0 * c);
        }
    }
}

// Causal grouped-query attention of one query position over cached positions 0..pos.
// q [n_heads][head_dim], keys/values [pos+1][kv_dim], out [n_heads][head_dim].
void attention(std::span<const float> q, const float* keys, const float* values, uint32_t pos,
               const ModelDesc& d, std::span<float> out) {
    const uint32_t hd = d.head_dim, kv_dim = d.kv_dim(), group = d.n_heads / d.n_kv_heads;
    const double inv_sqrt = 1.0 / std::sqrt(double(hd));
    std::vector<double> p(pos + 1);
    for (uint32_t h = 0; h < d.n_heads; ++h) {
        const float* qh = q.data() + uint64_t(h) * hd;
        const uint64_t kv_off = uint64_t(h / group) * hd;  // this head's kv head
        double max_score = -INFINITY;
        for (uint32_t t = 0; t <= pos; ++t) {
            const float* k = keys + uint64_t(t) * kv_dim + kv_off;
            double dot = 0;
            for (uint32_t i = 0; i < hd; ++i) dot += double(qh[i]) * k[i];
            p[t] = dot * inv_sqrt;
            max_score = std::max(max_score, p[t]);
        }
        double sum = 0;
        for (uint32_t t = 0; t <= pos; ++t) sum += p[t] = std::exp(p[t] - max_score);
        for (uint32_t i = 0; i < hd; ++i) {
            double acc = 0;
            for (uint32_t t = 0; t <= pos; ++t)
                acc += p[t] * values[uint64_t(t) * kv_dim + kv_off + i];
            out[uint64_t(h) * hd + i] = static_cast<float>(acc / sum);
        }
    }
}

float silu(float a) {
    return static_cast<float>(double(a) / (1.0 + std::exp(-double(a))));
}

}  // namespace

ReferenceForward::ReferenceForward(const ModelWeights& w, uint32_t max_context)
    : w_(w), max_context_(max_context) {
    const ModelDesc& d = w.desc;
    if (max_context == 0) fail("reference forward: the context must hold at least one token");
    if (d.n_layers == 0 || d.n_heads == 0 || d.n_kv_heads == 0 || d.head_dim == 0 ||
        d.n_heads % d.n_kv_heads != 0 || w.layers.size() != d.n_layers)
        fail("reference forward: model {} has an inconsistent description", d.name);
    if (w.token_embd.size() != uint64_t(d.vocab_size) * d.dim ||
        w.output_weights().size() != uint64_t(d.vocab_size) * d.dim)
        fail("reference forward: model {} has no embedding / output weights of {}x{}", d.name,
             d.vocab_size, d.dim);
    const uint64_t cache = uint64_t(d.n_layers) * max_context * d.kv_dim();
    key_cache_.assign(cache, 0.0f);
    value_cache_.assign(cache, 0.0f);
    const uint32_t rope_dim = d.rope_dim ? d.rope_dim : d.head_dim;
    if (!d.rope_freq_factors.empty() && d.rope_freq_factors.size() != rope_dim / 2)
        fail("reference forward: {} rope frequency factors for rope dimension {}",
             d.rope_freq_factors.size(), rope_dim);
    rope_freq_ = d.rope_frequencies(rope_dim);
    attn_in_.assign(d.n_layers, {});
    o_in_.assign(d.n_layers, {});
    ffn_in_.assign(d.n_layers, {});
    down_in_.assign(d.n_layers, {});
}

void ReferenceForward::reset() {
    n_cached_ = 0;
}

void ReferenceForward::check_depths(const TokenDepths& depths) const {
    if (!depths.empty() && depths.size() != w_.desc.n_layers)
        fail("reference forward: depths for {} layers, the model has {}", depths.size(),
             w_.desc.n_layers);
    for (uint32_t layer = 0; layer < w_.desc.n_layers; ++layer)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            const uint32_t depth = depths.empty() ? 0 : depths[layer][j];
            const LinearWeights& lw = w_.layers[layer].linear[j];
            const char* name = linear_name(static_cast<Linear>(j));
            if (depth > quant::kSlices)
                fail("reference forward: depth {} for layer {} linear {} is outside 0..{}", depth,
                     layer, name, quant::kSlices);
            if (depth == 0 && lw.dense.size() != uint64_t(lw.rows) * lw.cols)
                fail("reference forward: layer {} linear {} has no dense weights (depth 0)", layer,
                     name);
            if (depth > 0 && !lw.sliced)
                fail("reference forward: layer {} linear {} is not sliced (depth {} asked)", layer,
                     name, depth);
        }
}

// Depths were checked by check_depths before the step started.
void ReferenceForward::linear(uint32_t layer, Linear l, uint8_t depth, std::span<const float> x,
                              std::span<float> y) {
    const LinearWeights& lw = w_.layers[layer][l];
    if (depth == 0) {
        matvec_dense(lw.dense, lw.rows, lw.cols, x, y);
    } else {
        matvec_sliced(*lw.sliced, depth, x, y);
    }
    for (size_t i = 0; i < lw.bias.size(); ++i) y[i] += lw.bias[i];
}

std::vector<float> ReferenceForward::step(uint32_t token, uint32_t pos, const TokenDepths& depths) {
    const ModelDesc& d = w_.desc;
    if (pos >= max_context_)
        fail("reference forward: position {} is past the context of {} tokens", pos, max_context_);
    if (pos > n_cached_)
        fail("reference forward: position {} skips ahead of the {} cached positions", pos,
             n_cached_);
    if (token >= d.vocab_size)
        fail("reference forward: token id {} is outside the vocabulary of {}", token, d.vocab_size);
    check_depths(depths);
    auto depth_of = [&](uint32_t layer, Linear l) -> uint8_t {
        return depths.empty() ? 0 : depths[layer][static_cast<uint32_t>(l)];
    };

    const uint32_t dim = d.dim, kv_dim = d.kv_dim(), q_dim = d.q_dim(), ffn = d.ffn_dim;
    std::vector<float> x(w_.token_embd.begin() + uint64_t(token) * dim,
                         w_.token_embd.begin() + uint64_t(token + 1) * dim);  // [dim]
    std::vector<float> h(dim), q(q_dim), att(q_dim), o(dim), gate(ffn), up(ffn), down(dim);
    for (uint32_t layer = 0; layer < d.n_layers; ++layer) {
        const LayerWeights& L = w_.layers[layer];
        const uint64_t cache_row = (uint64_t(layer) * max_context_ + pos) * kv_dim;
        std::span<float> k(key_cache_.data() + cache_row, kv_dim);  // [n_kv_heads][head_dim]
        std::span<float> v(value_cache_.data() + cache_row, kv_dim);

        // attention block
        rmsnorm(x, L.attn_norm, d.rms_eps, h);
        attn_in_[layer] = h;
        linear(layer, Linear::Q, depth_of(layer, Linear::Q), h, q);
        linear(layer, Linear::K, depth_of(layer, Linear::K), h, k);
        linear(layer, Linear::V, depth_of(layer, Linear::V), h, v);
        rope(q, d.n_heads, d.head_dim, d.rope_layout, pos, rope_freq_);
        rope(k, d.n_kv_heads, d.head_dim, d.rope_layout, pos, rope_freq_);
        const float* layer_keys = key_cache_.data() + uint64_t(layer) * max_context_ * kv_dim;
        const float* layer_values = value_cache_.data() + uint64_t(layer) * max_context_ * kv_dim;
        attention(q, layer_keys, layer_values, pos, d, att);
        o_in_[layer] = att;
        linear(layer, Linear::O, depth_of(layer, Linear::O), att, o);
        for (uint32_t i = 0; i < dim; ++i) x[i] += o[i];

        // feed-forward block (SwiGLU)
        rmsnorm(x, L.ffn_norm, d.rms_eps, h);
        ffn_in_[layer] = h;
        linear(layer, Linear::Gate, depth_of(layer, Linear::Gate), h, gate);
        linear(layer, Linear::Up, depth_of(layer, Linear::Up), h, up);
        for (uint32_t i = 0; i < ffn; ++i) gate[i] = silu(gate[i]) * up[i];
        down_in_[layer] = gate;
        linear(layer, Linear::Down, depth_of(layer, Linear::Down), gate, down);
        for (uint32_t i = 0; i < dim; ++i) x[i] += down[i];
    }
    n_cached_ = pos + 1;

    rmsnorm(x, w_.output_norm, d.rms_eps, h);
    std::vector<float> logits(d.vocab_size);
    matvec_dense(w_.output_weights(), d.vocab_size, dim, h, logits);
    return logits;
}

std::vector<std::vector<float>> ReferenceForward::prefill(std::span<const uint32_t> tokens,
                                                          uint32_t start_pos,
                                                          std::span<const TokenDepths> depths) {
    if (!depths.empty() && depths.size() != 1 && depths.size() != tokens.size())
        fail("reference forward: {} depth entries for {} tokens (expected 0, 1 or one per token)",
             depths.size(), tokens.size());
    if (uint64_t(start_pos) + tokens.size() > max_context_)
        fail("reference forward: {} tokens from position {} do not fit the context of {}",
             tokens.size(), start_pos, max_context_);
    static const TokenDepths dense;
    std::vector<std::vector<float>> out;
    out.reserve(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) {
        const TokenDepths& dt = depths.empty() ? dense : depths[depths.size() == 1 ? 0 : t];
        out.push_back(step(tokens[t], start_pos + uint32_t(t), dt));
    }
    return out;
}

std::vector<float> ReferenceForward::last_linear_input(uint32_t layer, Linear l) const {
    if (layer >= w_.desc.n_layers)
        fail("reference forward: layer {} is outside 0..{}", layer, w_.desc.n_layers - 1);
    switch (l) {
        case Linear::Q:
        case Linear::K:
        case Linear::V:
            return attn_in_[layer];
        case Linear::O:
            return o_in_[layer];
        case Linear::Gate:
        case Linear::Up:
            return ffn_in_[layer];
        case Linear::Down:
            return down_in_[layer];
    }
    return {};
}

}  // namespace mq::rt
