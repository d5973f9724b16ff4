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

// The activations the kernels multiply by (int8 codes times the group scale), row-major.
inline std::vector<float> dequantized(const cpu::QuantizedActivations& x) {
    std::vector<float> v(uint64_t(x.rows) * x.cols);
    for (uint32_t t = 0; t < x.rows; ++t)
        for (uint32_t c = 0; c < x.cols; ++c) v[uint64_t(t) * x.cols + c] = x.value(t, c);
    return v;
}

}  // namespace mq::test
