#pragma once
// The MoBiSlice matrix product on the CPU.
#include <cstdint>
#include <span>

#include "cpu/activations.hpp"
#include "cpu/sliced_matrix.hpp"
#include "cpu/thread_pool.hpp"

namespace mq::cpu {

// y[t * w.rows() + r] = sum_c W_{depths[t]}(r, c) * x_t[c] for t < x.rows; depths[t] in 1..4.
// One token (x.rows == 1) is the decode mat-vec; several are prefill / a batched step, each token
// reading its own depth (tokens are grouped by depth internally).
void sliced_matmul(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                   std::span<const uint8_t> depths, float* y, ThreadPool& pool);

// Several products of the same activations in one pass of the pool (a layer's q, k and v, or its
// gate and up): one fork/join instead of one per matrix, and the small matrices' rows streamed
// together. Each product's outputs are exactly those of its own sliced_matmul.
struct SlicedProduct {
    const SlicedMatrixCpu* w = nullptr;
    std::span<const uint8_t> depths;  // one per token
    float* y = nullptr;
};
void sliced_matmuls(std::span<const SlicedProduct> products, const QuantizedActivations& x,
                    ThreadPool& pool);

// Checks the arguments of sliced_matmul (shared by every implementation of it).
void check_sliced_matmul_args(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                              std::span<const uint8_t> depths);

}  // namespace mq::cpu
