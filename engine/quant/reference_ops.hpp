#pragma once
// Plain C++ references of the matrix kernels: the oracles the shader tests compare against.
// Double accumulation; no attempt at speed.
#include <cstdint>
#include <span>
#include <vector>

#include "quant/mobislice.hpp"

namespace mq::quant {

// y = W(depth) x for one token (x has K values).
std::vector<float> mobislice_matvec_reference(const SlicedMatrix& m, std::span<const float> x,
                                              uint32_t depth);

// Y[t] = W(depths[t]) X[t] for T tokens (X is T x K row-major, Y is T x N).
std::vector<float> mobislice_matmat_reference(const SlicedMatrix& m, std::span<const float> x,
                                              std::span<const uint32_t> depths);

// Y = X W^T for an unquantized W (N x K row-major), X (T x K), Y (T x N).
std::vector<float> dense_matmat_reference(std::span<const float> w, uint32_t rows, uint32_t cols,
                                          std::span<const float> x, uint32_t tokens);

}  // namespace mq::quant
