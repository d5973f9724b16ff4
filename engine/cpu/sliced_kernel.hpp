#pragma once
// What one call of the MoBiSlice product hands the per-target SIMD row kernels
// (sliced_matmul.cpp): the matrix, tokens grouped into tiles of one depth, and per-token tables
// computed once per call. Internal to engine/cpu.
#include <cstdint>
#include <vector>

namespace mq::cpu::detail {

constexpr uint32_t kMaxTileTokens = 4;  // tokens sharing one decode of a weight chunk

struct TokenTile {
    uint32_t depth = 0, count = 0;
    uint32_t tokens[kMaxTileTokens] = {};
};

struct SlicedJob {
    uint32_t rows = 0, groups = 0;
    const uint8_t* planes[4] = {};  // row r of plane e starts at planes[e] + r * groups * 32
    const uint32_t* scale_zero = nullptr;
    const int8_t* x = nullptr;  // QuantizedActivations::q
    uint32_t x_row_bytes = 0;
    // Per token t: the activation scale of each i32 lane of a chunk (8 lanes per group, 16
    // columns each: QuantizedActivations::scales), groups * 8 floats, and the sum over a group's
    // lanes of scale * sum of codes, padded_groups floats (zeros past groups), where
    // padded_groups = groups rounded up to 16.
    const float* lane_scales = nullptr;
    const float* scaled_sums = nullptr;
    uint32_t padded_groups = 0;
    // Per token: the outliers kept in fp32 (QuantizedActivations::outlier_*).
    const uint32_t* outlier_begin = nullptr;
    const uint32_t* outlier_cols = nullptr;
    const float* outlier_values = nullptr;
    std::vector<TokenTile> tiles;
    float* y = nullptr;  // y[t * rows + r]
};

// The depth-k code of column c in a row whose plane e starts at row_planes[e] (a plane byte holds
// columns 4i..4i+3, two bits each from the lowest).
inline uint32_t WeightCode(const uint8_t* const* row_planes, uint32_t depth, uint32_t c) {
    uint32_t code = 0;
    for (uint32_t e = 0; e < depth; ++e)
        code = (code << 2) | ((row_planes[e][c / 4] >> (2 * (c % 4))) & 3u);
    return code;
}

// sum_c W_k(r, c) x_c over a token's outliers (code 0 in its int8 activations), where s and z
// hold row r's depth-k scale and zero point per group (W = s (code - z)).
inline float OutlierTerms(const SlicedJob& job, uint32_t token, const uint8_t* const* row_planes,
                          uint32_t depth, const float* s, const float* z) {
    float sum = 0;
    for (uint32_t i = job.outlier_begin[token]; i < job.outlier_begin[token + 1]; ++i) {
        const uint32_t c = job.outlier_cols[i], g = c / 128;
        sum += s[g] * (static_cast<float>(WeightCode(row_planes, depth, c)) - z[g]) *
               job.outlier_values[i];
    }
    return sum;
}

}  // namespace mq::cpu::detail
