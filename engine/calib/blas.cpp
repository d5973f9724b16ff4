#include "calib/blas.hpp"

#include <cblas.h>

namespace mq::calib {

void gemm_nt(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(n), int(k), 1.0f, a, int(k), b,
                int(k), accumulate ? 1.0f : 0.0f, c, int(n));
}

void gemm_nn(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a, int(k),
                b, int(n), accumulate ? 1.0f : 0.0f, c, int(n));
}

void gemm_tn(const float* a, const float* b, float* c, uint32_t m, uint32_t n, uint32_t k,
             bool accumulate) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a, int(m), b,
                int(n), accumulate ? 1.0f : 0.0f, c, int(n));
}

}  // namespace mq::calib
