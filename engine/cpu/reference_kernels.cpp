#include "cpu/reference_kernels.hpp"

#include "cpu/sliced_matmul.hpp"

namespace mq::cpu {

void sliced_matmul_reference(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                             std::span<const uint8_t> depths, float* y) {
    check_sliced_matmul_args(w, x, depths);
    for (uint32_t t = 0; t < x.rows; ++t)
        for (uint32_t r = 0; r < w.rows(); ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < w.cols(); ++c)
                acc += double(w.weight(r, c, depths[t])) * x.value(t, c);
            y[uint64_t(t) * w.rows() + r] = static_cast<float>(acc);
        }
}

void dense_matmul_reference(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y) {
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t r = 0; r < w.rows(); ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < w.cols(); ++c)
                acc += double(w.weight(r, c)) * x[uint64_t(t) * w.cols() + c];
            y[uint64_t(t) * w.rows() + r] = static_cast<float>(acc);
        }
}

}  // namespace mq::cpu
