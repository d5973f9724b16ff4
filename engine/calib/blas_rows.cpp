#include "calib/blas_rows.hpp"

#include <cblas.h>

#include "core/error.hpp"

namespace mq::calib {

Rows blas_times_transposed(const Rows& x, std::span<const float> w, uint32_t rows) {
    if (w.size() != size_t(rows) * x.width)
        fail("a {} x {} matrix has {} values, not {}", rows, x.width, w.size(),
             size_t(rows) * x.width);
    Rows y(x.n, rows);
    if (x.n == 0 || rows == 0) return y;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(x.n), int(rows), int(x.width), 1.0f,
                x.v.data(), int(x.width), w.data(), int(x.width), 0.0f, y.v.data(), int(rows));
    return y;
}

Rows blas_times(const Rows& dy, std::span<const float> w, uint32_t cols) {
    if (w.size() != size_t(dy.width) * cols)
        fail("a {} x {} matrix has {} values, not {}", dy.width, cols, w.size(),
             size_t(dy.width) * cols);
    Rows dx(dy.n, cols);
    if (dy.n == 0 || cols == 0) return dx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(dy.n), int(cols), int(dy.width),
                1.0f, dy.v.data(), int(dy.width), w.data(), int(cols), 0.0f, dx.v.data(),
                int(cols));
    return dx;
}

}  // namespace mq::calib
