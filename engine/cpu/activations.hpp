#pragma once
// Activations quantized for the integer dot products: int8 codes with one fp32 scale and one sum
// of codes per 16 columns (the columns one i32 lane of the kernels' dot products sums, so a
// finer scale costs the kernels nothing; the kernels subtract zero * sum(x) once per weight group
// of 128 instead of once per weight).
//
// The codes are stored in the order the kernels decode the weight planes, not column order: a
// plane byte holds 4 codes (columns c, c+1, c+2, c+3 of a 16-code word), and a kernel splits a run
// of plane bytes into 4 vectors by code position j = 0..3. So column c of group g sits at
//   o = g*32 + (c%128)/4   (its plane byte within the row),  j = c%4,
//   position(c) = (o/64)*256 + j*64 + o%64,
// i.e. for each pair of groups, four 64-byte blocks (one per j) of 32 bytes per group; a 64-byte
// plane load then meets one contiguous 64-byte load of activations for each j.
//
// Outliers are kept apart, as LLM.int8() does: LLM activations have a few channels tens of times
// larger than the rest, and a scale shared with one spends its int8 range on it (the other values
// left with a few levels). A value above kOutlierRatio times its group of 128's mean magnitude
// (at most kMaxOutliersPerGroup per group, the largest) gets code 0 and is kept in fp32; its 16
// columns' scale comes from the other values, and the kernels add W(r, c) * x_c for each outlier.
// The 16-column scales take the milder heavy tails (SwiGLU outputs) without that per-row cost.
#include <cstdint>
#include <vector>

namespace mq::cpu {

constexpr uint32_t kScaleColumns = 16;  // columns per activation scale
constexpr uint32_t kScalesPerGroup = 128 / kScaleColumns;
// A normal group's largest |x| is 3-6 times its mean; 8 would also take ~70 values a row of
// SwiGLU's tail on a 1B model, 32 misses outliers that cost KL (docs/results.md, CPU backend).
constexpr float kOutlierRatio = 16.0f;
constexpr uint32_t kMaxOutliersPerGroup = 4;

struct QuantizedActivations {
    uint32_t rows = 0, cols = 0;
    uint32_t groups = 0;        // groups of 128 per row (the last one padded with zeros)
    uint32_t row_bytes = 0;     // of q per row: groups rounded up to a pair, 128 bytes each
    std::vector<int8_t> q;      // rows * row_bytes, in kernel order (position())
    std::vector<float> scales;  // rows * groups * kScalesPerGroup: x ~= q * scale
    std::vector<int32_t> sums;  // the same: sum of the q of the scale's columns
    // Outliers of row r: [outlier_begin[r], outlier_begin[r + 1]) in outlier_cols (ascending)
    // and outlier_values (exact inputs); the quantizers append them row by row.
    std::vector<uint32_t> outlier_begin;  // rows + 1
    std::vector<uint32_t> outlier_cols;
    std::vector<float> outlier_values;

    // Sizes the storage for rows x cols values (zeroed; the padding of the last group stays 0;
    // no outliers). The one definition of the layout, for the SIMD and the reference quantizer
    // alike.
    void reshape(uint32_t rows_, uint32_t cols_);

    static uint32_t position(uint32_t col) {
        const uint32_t o = (col / 128) * 32 + (col % 128) / 4;
        return (o / 64) * 256 + (col % 4) * 64 + o % 64;
    }
    // The value the kernels multiply by: an outlier's input, else q * scale.
    float value(uint32_t row, uint32_t col) const {
        for (uint32_t i = outlier_begin[row]; i < outlier_begin[row + 1]; ++i)
            if (outlier_cols[i] == col) return outlier_values[i];
        return q[uint64_t(row) * row_bytes + position(col)] *
               scales[uint64_t(row) * groups * kScalesPerGroup + col / kScaleColumns];
    }
};

// Quantizes rows x cols floats (row-major). Per group: the outliers kept apart, those with
// u > kOutlierRatio * mean(round(u)) over the group's columns, u = |x| * 65536 / max|x| (the mean
// magnitude in fixed point, so that every order of summing gives the same; the
// kMaxOutliersPerGroup largest, ties to the lower column). Then per 16 columns, over the other
// values, scale = max|x| / 127 and q = round(x / scale). Reuses out's storage.
void quantize_activations(const float* x, uint32_t rows, uint32_t cols, QuantizedActivations& out);

}  // namespace mq::cpu
