#include "core/error.hpp"
#include "cpu/dense_matrix.hpp"

namespace mq::cpu {

void dense_matmul(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y, ThreadPool& pool) {
    pool.parallel_for(w.rows(), [&](uint32_t begin, uint32_t end) {
        for (uint32_t t = 0; t < n; ++t)
            for (uint32_t r = begin; r < end; ++r) {
                float acc = 0;
                for (uint32_t c = 0; c < w.cols(); ++c)
                    acc += w.weight(r, c) * x[uint64_t(t) * w.cols() + c];
                y[uint64_t(t) * w.rows() + r] = acc;
            }
    });
}

}  // namespace mq::cpu
