#pragma once
// Dense products of activation rows through OpenBLAS (cblas_sgemm), for the backward pass's
// two shapes: Y = X W^T (a linear's forward) and dX = dY W (its input gradient).
#include <cstdint>
#include <span>

#include "calib/rows.hpp"

namespace mq::calib {

// X [n][k] times W^T, W row-major [rows][k]: [n][rows].
Rows blas_times_transposed(const Rows& x, std::span<const float> w, uint32_t rows);
// dY [n][rows] times W, W row-major [rows][cols]: [n][cols].
Rows blas_times(const Rows& dy, std::span<const float> w, uint32_t cols);

}  // namespace mq::calib
