#pragma once
// Shapes and matrices the CPU kernel tests share.
#include <cstdint>
#include <vector>

#include "cpu/activations.hpp"
#include "quant/mobislice.hpp"
#include "support/test_data.hpp"

namespace mq::test {

struct CpuShape {
    uint32_t n, k;
};
// Ragged on purpose: odd N, K not a multiple of 128 (or of 16), an odd number of groups (a group
// pair left half empty), one row, one column.
inline const CpuShape kCpuShapes[] = {{64, 128},  {1, 128},  {63, 256}, {65, 200}, {127, 77},
                                      {33, 4100}, {130, 33}, {7, 1},    {17, 384}, {5, 640}};

inline quant::SlicedMatrix random_sliced(uint32_t n, uint32_t k, uint32_t seed) {
    auto w = random_vector(uint64_t(n) * k, seed, 0.05f);
    return quant::slice_matrix(w, n, k);
}

// Activations with the outliers of LLMs: every 37th column from column 5 is 64 times larger (so
// some of its values are kept apart, others not), and the first row's first group holds 6 huge
// values, more than a group keeps apart.
inline std::vector<float> outlier_activations(uint32_t rows, uint32_t cols, uint32_t seed) {
    auto x = random_vector(uint64_t(rows) * cols, seed);
    for (uint32_t r = 0; r < rows; ++r)
        for (uint32_t c = 5; c < cols; c += 37) x[uint64_t(r) * cols + c] *= 64.0f;
    for (uint32_t i = 1; i <= 6 && i * 10 < cols; ++i)
        x[i * 10] = (i % 2 ? 1.0f : -1.0f) * (500.0f + 10.0f * float(i));
    return x;
}

// The activations the kernels multiply by (int8 codes times the group scale), row-major.
inline std::vector<float> dequantized(const cpu::QuantizedActivations& x) {
    std::vector<float> v(uint64_t(x.rows) * x.cols);
    for (uint32_t t = 0; t < x.rows; ++t)
        for (uint32_t c = 0; c < x.cols; ++c) v[uint64_t(t) * x.cols + c] = x.value(t, c);
    return v;
}

}  // namespace mq::test
