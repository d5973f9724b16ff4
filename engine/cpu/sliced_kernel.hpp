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
    // Per token t: the activation scale of each i32 lane of a chunk (8 lanes per group),
    // groups * 8 floats, and scale * sum of codes per group, padded_groups floats (zeros past
    // groups), where padded_groups = groups rounded up to 16.
    const float* lane_scales = nullptr;
    const float* scaled_sums = nullptr;
    uint32_t padded_groups = 0;
    std::vector<TokenTile> tiles;
    float* y = nullptr;  // y[t * rows + r]
};

}  // namespace mq::cpu::detail
