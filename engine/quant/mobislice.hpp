#pragma once
// MoBiSlice (docs/design.md section 1): a weight matrix W (N outputs x K inputs) as one
// calibrated 2-bit base slice plus three 2-bit residual slices, each on a grid 4x finer than the
// one before. Reading the first k slices gives a 2k-bit weight; dropping slices is dropping low
// bits.
//
//   Q1 = clamp(floor(W/s1 + z1), 0, 3)            W1 = s1 (Q1 - z1 + 1/2)
//   R  = W - W1;  for e = 2..4:  Qe = clamp(floor(R/s_e) + 2, 0, 3),  We = s_e (Qe - 3/2),  R -= We
//   depth k:  W(k) = s_k (q(k) - z'_k),  q(k) = Q1..Qk as a base-4 number,  s_k = s1 / 4^(k-1),
//             z'_k = 4^(k-1) z1 - 1/2
//
// s1 and z1 are stored as fp16 per row and group of 128 along K, and the codes are computed
// with those rounded values, so the GPU and the CPU reconstruct exactly the same weights.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace mq::quant {

constexpr uint32_t kSlices = 4;       // E
constexpr uint32_t kSliceBits = 2;    // bits per slice
constexpr uint32_t kGroupSize = 128;  // G, along K
constexpr uint32_t kCodesPerWord = 32 / kSliceBits;
constexpr uint32_t kWordsPerGroup = kGroupSize / kCodesPerWord;  // 8

struct SliceOptions {
    // E[x_i^2] per input channel (size K) to weight the clipping search; empty = uniform.
    std::span<const float> channel_importance;
    // Clip ratios tried per group: 1.0 down to min_clip in clip_steps steps (0 = min/max only,
    // no search at all).
    uint32_t clip_steps = 8;
    float min_clip = 0.6f;
    uint32_t threads = 0;  // 0 = hardware concurrency
    // Widened ranges tried besides the clipped ones: 1 + (max_expand - 1) s / expand_steps times
    // the min/max range, about its middle, for s = 1..expand_steps. At 4/3 the base slice's four
    // reconstruction points are round-to-nearest's on the unclipped range (the floor grid puts
    // its points at the cells' centres, 1/8 of the range inside the ends), so depth 1 can
    // match a dedicated 2-bit quantizer on groups whose extreme weights matter, without the
    // clipping that deeper depths cannot undo (each residual slice spans exactly one cell).
    uint32_t expand_steps = 2;
    float max_expand = 4.0f / 3.0f;
    // The search ranks candidates by sum_k depth_weights[k-1] 16^(k-1) err_k, err_k the
    // importance-weighted squared error at depth k: 16^(k-1) makes each precision count equally
    // (with plain sums the coarse depths dominate and clip the outliers that 8 bits needs), and
    // the extra weights favour 2 and 4 bits, which a bit-specific quantizer beats most where a
    // few input channels dominate the error (docs/results.md, "2-bit parity").
    std::array<float, kSlices> depth_weights = {32, 32, 1, 1};
    // Groups whose importance is spread over many input channels (effective channel count
    // (sum E[x^2])^2 / sum E[x^2]^2 above spread_fraction of the group; none without
    // channel_importance) weight depth 1 by spread_base_weight instead. There the 2-bit optimum
    // clips, and only a large depth-1 weight picks it (within 1.05x of a dedicated 2-bit
    // quantizer's KL on an outlier-free model); where a few channels dominate, clipping would
    // cost those channels' weights at every depth. 0 = depth_weights everywhere.
    float spread_base_weight = 256;
    float spread_fraction = 0.25f;
};

struct SlicedMatrix {
    uint32_t rows = 0, cols = 0;  // N, K
    // planes[e][row * words_per_row() + w]: 16 codes of 2 bits, code i of word w in group g is
    // the weight at column g*128 + (w % 8)*16 + i, stored in bits 2i..2i+1. Columns past K hold 0.
    std::vector<uint32_t> planes[kSlices];
    // scale_zero[row * groups_per_row() + g] = fp16 s1 (low half) | fp16 z1 (high half), the
    // layout of GLSL's packHalf2x16(vec2(s1, z1)).
    std::vector<uint32_t> scale_zero;

    uint32_t groups_per_row() const { return (cols + kGroupSize - 1) / kGroupSize; }
    uint32_t words_per_row() const { return groups_per_row() * kWordsPerGroup; }
    uint32_t padded_cols() const { return groups_per_row() * kGroupSize; }

    uint32_t code(uint32_t slice, uint32_t row, uint32_t col) const;
    uint32_t combined_code(uint32_t row, uint32_t col, uint32_t depth) const;  // q(depth)
    float scale(uint32_t row, uint32_t group) const;                           // s1
    float zero(uint32_t row, uint32_t group) const;                            // z1
    float weight(uint32_t row, uint32_t col, uint32_t depth) const;            // W(depth)
    std::vector<float> dequantize(uint32_t depth) const;                       // N x K
    uint64_t plane_bytes() const { return uint64_t(rows) * words_per_row() * 4; }
    uint64_t scale_bytes() const { return uint64_t(rows) * groups_per_row() * 4; }
};

// Slices W (row-major N x K). Any K >= 1; the last group of a row may be partial.
SlicedMatrix slice_matrix(std::span<const float> weights, uint32_t rows, uint32_t cols,
                          const SliceOptions& options = {});

// The depth-k step s_k and zero z'_k of a group, exactly as the shaders compute them.
inline float depth_scale(float s1, uint32_t depth) {
    return s1 / static_cast<float>(1u << (2 * (depth - 1)));
}
inline float depth_zero(float z1, uint32_t depth) {
    return z1 * static_cast<float>(1u << (2 * (depth - 1))) - 0.5f;
}

}  // namespace mq::quant
