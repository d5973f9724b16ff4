#pragma once
// The calibration job's dense products through OpenBLAS (cblas_sgemm, its own threads over all
// cores). Row-major float matrices; call from one thread (never inside parallel_for).
#include <cstdint>

namespace mq::calib {

// C[m][n] = A[m][k] B[n][k]^T, plus the old C when accumulate.
void gemm_nt(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate = false);
// C[m][n] = A[m][k] B[k][n], plus the old C when accumulate.
void gemm_nn(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate = false);
// C[m][n] = A[k][m]^T B[k][n], plus the old C when accumulate.
void gemm_tn(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate = false);

}  // namespace mq::calib
