#pragma once
// Plain scalar versions of the CPU kernels: the oracles the fast kernels are tested against,
// written for clarity (double accumulation, one weight at a time), not speed.
#include <cstdint>
#include <span>

#include "cpu/activations.hpp"
#include "cpu/dense_matrix.hpp"
#include "cpu/sliced_matrix.hpp"

namespace mq::cpu {

// quantize_activations, one value at a time.
void quantize_activations_reference(const float* x, uint32_t rows, uint32_t cols,
                                    QuantizedActivations& out);

// sliced_matmul on the dequantized int8 activations (QuantizedActivations::value).
void sliced_matmul_reference(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                             std::span<const uint8_t> depths, float* y);

// dense_matmul on the stored weights (fp16 ones converted exactly to float).
void dense_matmul_reference(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y);

}  // namespace mq::cpu
