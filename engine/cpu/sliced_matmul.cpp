#include "cpu/sliced_matmul.hpp"

#include "core/error.hpp"

namespace mq::cpu {

void check_sliced_matmul_args(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                              std::span<const uint8_t> depths) {
    if (x.cols != w.cols())
        fail("sliced product: activations have {} columns, the matrix {}", x.cols, w.cols());
    if (depths.size() != x.rows)
        fail("sliced product: {} depths for {} tokens", depths.size(), x.rows);
    for (size_t t = 0; t < depths.size(); ++t)
        if (depths[t] < 1 || depths[t] > quant::kSlices)
            fail("sliced product: token {} asks for depth {} (1..{})", t, depths[t],
                 quant::kSlices);
}

void sliced_matmul(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                   std::span<const uint8_t> depths, float* y, ThreadPool& pool) {
    check_sliced_matmul_args(w, x, depths);
    pool.parallel_for(w.rows(), [&](uint32_t begin, uint32_t end) {
        for (uint32_t t = 0; t < x.rows; ++t)
            for (uint32_t r = begin; r < end; ++r) {
                float acc = 0;
                for (uint32_t c = 0; c < w.cols(); ++c)
                    acc += w.weight(r, c, depths[t]) * x.value(t, c);
                y[uint64_t(t) * w.rows() + r] = acc;
            }
    });
}

}  // namespace mq::cpu
