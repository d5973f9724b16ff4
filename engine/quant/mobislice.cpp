#include "quant/mobislice.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/parallel.hpp"

namespace mq::quant {

namespace {

struct GroupParams {
    uint16_t s1_bits, z1_bits;
    float s1, z1;
};

GroupParams make_params(float lo, float hi) {
    float range = std::max({hi - lo, 1e-3f * std::max(std::fabs(lo), std::fabs(hi)), 1e-6f});
    uint16_t s_bits = float_to_half(range / 4);
    if ((s_bits & 0x7fff) == 0) s_bits = 1;  // never a zero step
    float s1 = half_to_float(s_bits);
    uint16_t z_bits = float_to_half(-lo / s1);
    return {s_bits, z_bits, s1, half_to_float(z_bits)};
}

// Quantizes one group; returns the (importance-weighted) squared error summed over all depths,
// and writes the codes when `codes` is given (codes[e][i]). Depth k's error is weighted by
// 16^(k-1), the inverse of its expected size, so every precision counts equally: with plain
// sums the coarse depths dominate and the search clips outliers that 8 bits needs.
double quantize_group(const float* w, const float* importance, uint32_t n, const GroupParams& p,
                      uint8_t (*codes)[kGroupSize]) {
    double err = 0;
    for (uint32_t i = 0; i < n; ++i) {
        float x = w[i];
        float q = std::clamp(std::floor(x / p.s1 + p.z1), 0.0f, 3.0f);
        float r = x - p.s1 * (q - p.z1 + 0.5f);
        double e2 = double(r) * r;
        if (codes) codes[0][i] = static_cast<uint8_t>(q);
        float s = p.s1;
        double depth_weight = 1;
        for (uint32_t e = 1; e < kSlices; ++e) {
            s *= 0.25f;
            depth_weight *= 16;
            float qe = std::clamp(std::floor(r / s) + 2.0f, 0.0f, 3.0f);
            r -= s * (qe - 1.5f);
            e2 += depth_weight * double(r) * r;
            if (codes) codes[e][i] = static_cast<uint8_t>(qe);
        }
        err += importance ? importance[i] * e2 : e2;
    }
    return err;
}

// A candidate's importance-weighted squared error at each depth, depth k times 16^(k-1).
struct SearchError {
    float depth[kSlices] = {};
};

// Sum of n values in eight partial sums, so the compiler vectorizes it.
float lane_sum(const float* v, uint32_t n) {
    float acc[8] = {};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (uint32_t j = 0; j < 8; ++j) acc[j] += v[i + j];
    for (; i < n; ++i) acc[0] += v[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// quantize_group's errors for ranking the clipping search's candidates, in float and without
// divisions or floor calls (multiplication by the reciprocal step, truncation of the clamped
// value), so that the compiler vectorizes it: the search costs most of the slicing. It can only
// differ where a value sits within rounding of a step boundary; the chosen candidate is then
// quantized by quantize_group itself.
SearchError search_error(const float* w, const float* importance, uint32_t n,
                         const GroupParams& p) {
    static const std::array<float, kGroupSize> ones = [] {
        std::array<float, kGroupSize> a;
        a.fill(1.0f);
        return a;
    }();
    const float* imp = importance ? importance : ones.data();  // no branch in the loop
    float err[kSlices][kGroupSize];
    const float s1 = p.s1, inv1 = 1.0f / p.s1, z1 = p.z1;
    // Code in 0..3 of v (already offset): clamp, then truncation = floor for v >= 0.
    auto code = [](float v) {
        v = v < 0.0f ? 0.0f : v;
        v = v > 3.0f ? 3.0f : v;
        return static_cast<float>(static_cast<int>(v));
    };
    const float s2 = s1 * 0.25f, s3 = s1 * 0.0625f, s4 = s1 * 0.015625f;
    const float i2 = inv1 * 4.0f, i3 = inv1 * 16.0f, i4 = inv1 * 64.0f;
    for (uint32_t i = 0; i < n; ++i) {  // the depths unrolled: one straight line per value
        const float x = w[i];
        float r = x - s1 * (code(x * inv1 + z1) - z1 + 0.5f);
        err[0][i] = imp[i] * r * r;
        r -= s2 * (code(r * i2 + 2.0f) - 1.5f);
        err[1][i] = imp[i] * 16.0f * r * r;
        r -= s3 * (code(r * i3 + 2.0f) - 1.5f);
        err[2][i] = imp[i] * 256.0f * r * r;
        r -= s4 * (code(r * i4 + 2.0f) - 1.5f);
        err[3][i] = imp[i] * 4096.0f * r * r;
    }
    SearchError out;
    for (uint32_t k = 0; k < kSlices; ++k) out.depth[k] = lane_sum(err[k], n);
    return out;
}

// Whether the group's importance is spread over many channels (SliceOptions::spread_fraction).
// Without importance nothing is known about the activations: not spread.
bool importance_spread(const float* imp, uint32_t n, float fraction) {
    if (!imp) return false;
    double sum = 0, sum_sq = 0;
    for (uint32_t i = 0; i < n; ++i) sum += imp[i], sum_sq += double(imp[i]) * imp[i];
    return sum_sq > 0 && sum * sum > fraction * n * sum_sq;
}

// The group's base scale and zero: min/max, clipped and widened ranges ranked by the
// depth-weighted error (SliceOptions::depth_weights, spread_base_weight).
GroupParams search_params(const float* w, const float* imp, uint32_t n, const SliceOptions& o) {
    auto [mn_it, mx_it] = std::minmax_element(w, w + n);
    const float mn = *mn_it, mx = *mx_it;
    GroupParams best = make_params(mn, mx);
    if (o.clip_steps == 0) return best;
    std::array<float, kSlices> d = o.depth_weights;
    if (o.spread_base_weight > 0 && importance_spread(imp, n, o.spread_fraction))
        d[0] = o.spread_base_weight;
    float best_score = std::numeric_limits<float>::max();
    auto consider = [&](const GroupParams& p) {  // first of equals wins: min/max before the rest
        const SearchError e = search_error(w, imp, n, p);
        const float s =
            (d[0] * e.depth[0] + d[1] * e.depth[1]) + (d[2] * e.depth[2] + d[3] * e.depth[3]);
        if (s < best_score) best_score = s, best = p;
    };
    consider(best);
    for (uint32_t step = 1; step <= o.clip_steps; ++step) {
        const float a = 1.0f - (1.0f - o.min_clip) * step / o.clip_steps;
        consider(make_params(a * mn, a * mx));
    }
    const float mid = 0.5f * (mn + mx);
    for (uint32_t step = 1; step <= o.expand_steps; ++step) {
        const float half =
            0.5f * (mx - mn) * (1.0f + (o.max_expand - 1.0f) * step / o.expand_steps);
        consider(make_params(mid - half, mid + half));
    }
    return best;
}

}  // namespace

SlicedMatrix slice_matrix(std::span<const float> weights, uint32_t rows, uint32_t cols,
                          const SliceOptions& options) {
    if (rows == 0 || cols == 0) fail("cannot slice an empty {}x{} matrix", rows, cols);
    if (weights.size() != uint64_t(rows) * cols)
        fail("slice_matrix: {} values for a {}x{} matrix", weights.size(), rows, cols);
    if (!options.channel_importance.empty() && options.channel_importance.size() != cols)
        fail("slice_matrix: {} channel weights for {} columns", options.channel_importance.size(),
             cols);
    SlicedMatrix m;
    m.rows = rows;
    m.cols = cols;
    const uint32_t groups = m.groups_per_row(), wpr = m.words_per_row();
    for (auto& p : m.planes) p.assign(uint64_t(rows) * wpr, 0u);
    m.scale_zero.assign(uint64_t(rows) * groups, 0u);

    parallel_for(
        rows,
        [&](uint64_t r0, uint64_t r1) {
            uint8_t codes[kSlices][kGroupSize];
            for (uint64_t r = r0; r < r1; ++r) {
                for (uint32_t g = 0; g < groups; ++g) {
                    uint32_t c0 = g * kGroupSize, n = std::min(kGroupSize, cols - c0);
                    const float* w = weights.data() + r * cols + c0;
                    const float* imp = options.channel_importance.empty()
                                           ? nullptr
                                           : options.channel_importance.data() + c0;
                    const GroupParams best = search_params(w, imp, n, options);
                    std::fill(&codes[0][0], &codes[0][0] + sizeof(codes), uint8_t{0});
                    quantize_group(w, imp, n, best, codes);
                    m.scale_zero[r * groups + g] =
                        uint32_t(best.s1_bits) | (uint32_t(best.z1_bits) << 16);
                    for (uint32_t e = 0; e < kSlices; ++e) {
                        uint32_t* out = m.planes[e].data() + r * wpr + g * kWordsPerGroup;
                        for (uint32_t i = 0; i < kGroupSize; ++i)
                            out[i / kCodesPerWord] |= uint32_t(codes[e][i])
                                                      << (kSliceBits * (i % kCodesPerWord));
                    }
                }
            }
        },
        options.threads);
    return m;
}

uint32_t SlicedMatrix::code(uint32_t slice, uint32_t row, uint32_t col) const {
    uint32_t word = planes[slice][uint64_t(row) * words_per_row() + col / kCodesPerWord];
    return (word >> (kSliceBits * (col % kCodesPerWord))) & 3u;
}

uint32_t SlicedMatrix::combined_code(uint32_t row, uint32_t col, uint32_t depth) const {
    uint32_t q = 0;
    for (uint32_t e = 0; e < depth; ++e) q = (q << kSliceBits) | code(e, row, col);
    return q;
}

float SlicedMatrix::scale(uint32_t row, uint32_t group) const {
    return half_to_float(
        static_cast<uint16_t>(scale_zero[uint64_t(row) * groups_per_row() + group]));
}

float SlicedMatrix::zero(uint32_t row, uint32_t group) const {
    return half_to_float(
        static_cast<uint16_t>(scale_zero[uint64_t(row) * groups_per_row() + group] >> 16));
}

float SlicedMatrix::weight(uint32_t row, uint32_t col, uint32_t depth) const {
    if (depth < 1 || depth > kSlices) fail("depth {} is outside 1..{}", depth, kSlices);
    uint32_t g = col / kGroupSize;
    return depth_scale(scale(row, g), depth) *
           (static_cast<float>(combined_code(row, col, depth)) - depth_zero(zero(row, g), depth));
}

std::vector<float> SlicedMatrix::dequantize(uint32_t depth) const {
    std::vector<float> out(uint64_t(rows) * cols);
    for (uint32_t r = 0; r < rows; ++r)
        for (uint32_t c = 0; c < cols; ++c) out[uint64_t(r) * cols + c] = weight(r, c, depth);
    return out;
}

}  // namespace mq::quant
