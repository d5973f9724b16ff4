#include "cpu/vector_math.hpp"

#include <algorithm>
#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/vector_math.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format off: the contrib header must follow highway.h
#include <hwy/contrib/math/math-inl.h>
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace mq::cpu::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// e^x lane-wise, for x <= 88 (e^88 is near the largest float; Highway's Exp is valid to 104).
template <class DF>
HWY_INLINE hn::Vec<DF> ExpClamped(DF df, hn::Vec<DF> x) {
    return hn::Exp(df, hn::Min(x, hn::Set(df, 88.0f)));
}

float Dot(const float* a, const float* b, uint32_t n) {
    const hn::ScalableTag<float> df;
    const uint32_t lanes = static_cast<uint32_t>(hn::Lanes(df));
    auto a0 = hn::Zero(df), a1 = hn::Zero(df);
    uint32_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
        a0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), a0);
        a1 = hn::MulAdd(hn::LoadU(df, a + i + lanes), hn::LoadU(df, b + i + lanes), a1);
    }
    for (; i + lanes <= n; i += lanes)
        a0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), a0);
    float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

#if HWY_HAVE_SCALABLE || HWY_TARGET == HWY_SCALAR
// Scores one position at a time.
void Scores(const float* q, const float* keys, uint64_t stride, uint32_t n, uint32_t head_dim,
            float scale, float* scores) {
    for (uint32_t s = 0; s < n; ++s) scores[s] = Dot(q, keys + s * stride, head_dim) * scale;
}
#else
// The lane sums of a, b, c, d as the 4 lanes of one 128-bit vector: two rounds of interleaves
// sum within each 128-bit block, then the blocks are folded together. A quarter of the shuffles
// of four separate horizontal sums.
template <class D>
HWY_INLINE hn::Vec<hn::Full128<float> > FoldTo128(D d, hn::Vec<D> v) {
    if constexpr (hn::MaxLanes(d) > 4) {
        const hn::Half<D> dh;
        return FoldTo128(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)));
    } else {
        return v;
    }
}
template <class D, class V>
HWY_INLINE hn::Vec<hn::Full128<float> > SumsOf4(D d, V a, V b, V c, V e) {
    const hn::Repartition<uint64_t, D> d64;
    const auto ab = hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b));
    const auto ce = hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e));
    const auto lo = hn::InterleaveLower(d64, hn::BitCast(d64, ab), hn::BitCast(d64, ce));
    const auto hi = hn::InterleaveUpper(d64, hn::BitCast(d64, ab), hn::BitCast(d64, ce));
    return FoldTo128(d, hn::Add(hn::BitCast(d, lo), hn::BitCast(d, hi)));
}

// scale * (a[j] . b[j]) over n floats for j < 4 as the lanes of one vector: four independent
// FMA chains reduced together. Callers pass the same pointer several times (one query against
// four keys, or four queries against one key); the compiler then loads it once.
HWY_INLINE hn::Vec<hn::Full128<float> > Dots4(const float* const (&a)[4],
                                              const float* const (&b)[4], uint32_t n,
                                              float scale) {
    const hn::ScalableTag<float> df;
    const hn::Full128<float> d4;
    const uint32_t lanes = static_cast<uint32_t>(hn::Lanes(df));
    const uint32_t vec_dims = n / lanes * lanes;
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    for (uint32_t i = 0; i < vec_dims; i += lanes) {
        a0 = hn::MulAdd(hn::LoadU(df, a[0] + i), hn::LoadU(df, b[0] + i), a0);
        a1 = hn::MulAdd(hn::LoadU(df, a[1] + i), hn::LoadU(df, b[1] + i), a1);
        a2 = hn::MulAdd(hn::LoadU(df, a[2] + i), hn::LoadU(df, b[2] + i), a2);
        a3 = hn::MulAdd(hn::LoadU(df, a[3] + i), hn::LoadU(df, b[3] + i), a3);
    }
    auto sums = SumsOf4(df, a0, a1, a2, a3);
    if (vec_dims < n) {
        float tail[4] = {};
        for (uint32_t j = 0; j < 4; ++j)
            for (uint32_t i = vec_dims; i < n; ++i) tail[j] += a[j][i] * b[j][i];
        sums = hn::Add(sums, hn::LoadU(d4, tail));
    }
    return hn::Mul(sums, hn::Set(d4, scale));
}

// Scores four positions at a time.
void Scores(const float* q, const float* keys, uint64_t stride, uint32_t n, uint32_t head_dim,
            float scale, float* scores) {
    const hn::Full128<float> d4;
    uint32_t s = 0;
    for (; s + 4 <= n; s += 4) {
        const float* k = keys + s * stride;
        hn::StoreU(Dots4({q, q, q, q}, {k, k + stride, k + 2 * stride, k + 3 * stride}, head_dim,
                         scale),
                   d4, scores + s);
    }
    for (; s < n; ++s) scores[s] = Dot(q, keys + s * stride, head_dim) * scale;
}

// Scores of 4 query heads (q + h * head_dim) sharing one key head, scores[h * n + s]: each key
// row is loaded once for the four.
void Scores4(const float* q, const float* keys, uint64_t stride, uint32_t n, uint32_t head_dim,
             float scale, float* scores) {
    const hn::Full128<float> d4;
    const float* const heads[4] = {q, q + head_dim, q + 2 * head_dim, q + 3 * head_dim};
    for (uint32_t s = 0; s < n; ++s) {
        const float* k = keys + s * stride;
        float sums[4];
        hn::StoreU(Dots4(heads, {k, k, k, k}, head_dim, scale), d4, sums);
        for (uint32_t h = 0; h < 4; ++h) scores[h * n + s] = sums[h];
    }
}
#endif

// scores[0, n) = softmax(scores); returns nothing, the sum is folded in.
void Softmax(float* scores, uint32_t n) {
    const hn::ScalableTag<float> df;
    const uint32_t lanes = static_cast<uint32_t>(hn::Lanes(df));
    float max_score = -INFINITY;
    for (uint32_t s = 0; s < n; ++s) max_score = std::max(max_score, scores[s]);
    // p_s = e^(score - max), summed in lanes.
    const auto vmax = hn::Set(df, max_score);
    auto vsum = hn::Zero(df);
    uint32_t s = 0;
    for (; s + lanes <= n; s += lanes) {
        const auto p = ExpClamped(df, hn::Sub(hn::LoadU(df, scores + s), vmax));
        hn::StoreU(p, df, scores + s);
        vsum = hn::Add(vsum, p);
    }
    float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
    for (; s < n; ++s) sum += scores[s] = std::exp(scores[s] - max_score);
    const auto inv = hn::Set(df, 1.0f / sum);
    for (s = 0; s + lanes <= n; s += lanes)
        hn::StoreU(hn::Mul(hn::LoadU(df, scores + s), inv), df, scores + s);
    for (; s < n; ++s) scores[s] *= 1.0f / sum;
}

// out[h] = sum_s p[h * n + s] v_s for kHeads heads sharing the values: kVecs vectors of each
// head's output stay in registers (independent FMA chains) while the positions stream by, and
// each value load feeds every head.
template <uint32_t kHeads, uint32_t kVecs>
HWY_INLINE void ValueBlock(const float* p, const float* values, uint64_t stride, uint32_t n,
                           uint32_t head_dim, uint32_t i, float* out) {
    const hn::ScalableTag<float> df;
    const size_t lanes = hn::Lanes(df);
    hn::Vec<decltype(df)> acc[kHeads][kVecs];
    for (uint32_t h = 0; h < kHeads; ++h)
        for (uint32_t k = 0; k < kVecs; ++k) acc[h][k] = hn::Zero(df);
    for (uint32_t t = 0; t < n; ++t) {
        const float* v = values + t * stride + i;
        hn::Vec<decltype(df)> vv[kVecs];
        for (uint32_t k = 0; k < kVecs; ++k) vv[k] = hn::LoadU(df, v + k * lanes);
        for (uint32_t h = 0; h < kHeads; ++h) {
            const auto ph = hn::Set(df, p[h * n + t]);
            for (uint32_t k = 0; k < kVecs; ++k) acc[h][k] = hn::MulAdd(ph, vv[k], acc[h][k]);
        }
    }
    for (uint32_t h = 0; h < kHeads; ++h)
        for (uint32_t k = 0; k < kVecs; ++k)
            hn::StoreU(acc[h][k], df, out + h * head_dim + i + k * lanes);
}

template <uint32_t kHeads>
void Values(const float* p, const float* values, uint64_t stride, uint32_t n, uint32_t head_dim,
            float* out) {
    const hn::ScalableTag<float> df;
    const uint32_t lanes = static_cast<uint32_t>(hn::Lanes(df));
    constexpr uint32_t kVecs = kHeads == 1 ? 4 : 2;  // accumulators within 8-16 registers
    uint32_t i = 0;
    for (; i + kVecs * lanes <= head_dim; i += kVecs * lanes)
        ValueBlock<kHeads, kVecs>(p, values, stride, n, head_dim, i, out);
    for (; i + lanes <= head_dim; i += lanes)
        ValueBlock<kHeads, 1>(p, values, stride, n, head_dim, i, out);
    for (; i < head_dim; ++i)
        for (uint32_t h = 0; h < kHeads; ++h) {
            float acc = 0;
            for (uint32_t t = 0; t < n; ++t) acc += p[h * n + t] * values[t * stride + i];
            out[h * head_dim + i] = acc;
        }
}

void AttendHeads(const float* q, uint32_t heads, const float* keys, const float* values,
                 uint64_t stride, uint32_t n, uint32_t head_dim, float scale, float* scores,
                 float* out) {
    uint32_t h = 0;
#if !(HWY_HAVE_SCALABLE || HWY_TARGET == HWY_SCALAR)
    for (; h + 4 <= heads; h += 4) {
        Scores4(q + h * head_dim, keys, stride, n, head_dim, scale, scores);
        for (uint32_t j = 0; j < 4; ++j) Softmax(scores + j * n, n);
        Values<4>(scores, values, stride, n, head_dim, out + h * head_dim);
    }
#endif
    for (; h < heads; ++h) {
        Scores(q + h * head_dim, keys, stride, n, head_dim, scale, scores);
        Softmax(scores, n);
        Values<1>(scores, values, stride, n, head_dim, out + h * head_dim);
    }
}

void SiluMul(float* gate, const float* up, uint64_t n) {
    const hn::ScalableTag<float> df;
    const uint64_t lanes = hn::Lanes(df);
    const auto one = hn::Set(df, 1.0f);
    uint64_t i = 0;
    for (; i + lanes <= n; i += lanes) {
        const auto g = hn::LoadU(df, gate + i);
        const auto e = ExpClamped(df, hn::Neg(g));
        hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(df, up + i)), df, gate + i);
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(std::min(-gate[i], 88.0f))) * up[i];
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mq::cpu {
namespace detail {
HWY_EXPORT(AttendHeads);
HWY_EXPORT(SiluMul);
}  // namespace detail

void attend_heads(const float* q, uint32_t heads, const float* keys, const float* values,
                  uint64_t stride, uint32_t n, uint32_t head_dim, float scale, float* scores,
                  float* out) {
    HWY_DYNAMIC_DISPATCH(detail::AttendHeads)
    (q, heads, keys, values, stride, n, head_dim, scale, scores, out);
}

void silu_mul(float* gate, const float* up, uint64_t n) {
    HWY_DYNAMIC_DISPATCH(detail::SiluMul)(gate, up, n);
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
