#pragma once
// Activations quantized for the integer dot products, like llama.cpp's q8: int8 per group of 128
// along the row with one fp32 scale per group and the group's sum of codes (the kernels subtract
// zero * sum(x) once per group instead of once per weight).
//
// The codes are stored in the order the kernels decode the weight planes, not column order: a
// plane byte holds 4 codes (columns c, c+1, c+2, c+3 of a 16-code word), and a kernel splits a run
// of plane bytes into 4 vectors by code position j = 0..3. So column c of group g sits at
//   o = g*32 + (c%128)/4   (its plane byte within the row),  j = c%4,
//   position(c) = (o/64)*256 + j*64 + o%64,
// i.e. for each pair of groups, four 64-byte blocks (one per j) of 32 bytes per group; a 64-byte
// plane load then meets one contiguous 64-byte load of activations for each j.
#include <cstdint>
#include <vector>

namespace mq::cpu {

struct QuantizedActivations {
    uint32_t rows = 0, cols = 0;
    uint32_t groups = 0;        // groups of 128 per row (the last one padded with zeros)
    uint32_t row_bytes = 0;     // of q per row: groups rounded up to a pair, 128 bytes each
    std::vector<int8_t> q;      // rows * row_bytes, in kernel order (position())
    std::vector<float> scales;  // rows * groups: x ~= q * scale
    std::vector<int32_t> sums;  // rows * groups: sum of the group's q

    // Sizes the storage for rows x cols values (zeroed; the padding of the last group stays 0).
    // The one definition of the layout, for the SIMD and the reference quantizer alike.
    void reshape(uint32_t rows_, uint32_t cols_);

    static uint32_t position(uint32_t col) {
        const uint32_t o = (col / 128) * 32 + (col % 128) / 4;
        return (o / 64) * 256 + (col % 4) * 64 + o % 64;
    }
    // The value the kernels multiply by: q * scale.
    float value(uint32_t row, uint32_t col) const {
        return q[uint64_t(row) * row_bytes + position(col)] *
               scales[uint64_t(row) * groups + col / 128];
    }
};

// Quantizes rows x cols floats (row-major): per group, scale = max|x| / 127 and q = round(x /
// scale). Reuses out's storage.
void quantize_activations(const float* x, uint32_t rows, uint32_t cols, QuantizedActivations& out);

}  // namespace mq::cpu
