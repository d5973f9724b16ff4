#include "cpu/dense_matrix.hpp"

#include "core/error.hpp"
#include "core/half.hpp"

namespace mq::cpu {

DenseMatrixCpu DenseMatrixCpu::prepare(std::span<const float> w, uint32_t rows, uint32_t cols,
                                       DenseFormat format) {
    if (rows == 0 || cols == 0) fail("dense matrix {}x{} is empty", rows, cols);
    if (w.size() != uint64_t(rows) * cols)
        fail("dense matrix {}x{} given {} values", rows, cols, w.size());
    DenseMatrixCpu m;
    m.rows_ = rows;
    m.cols_ = cols;
    m.format_ = format;
    if (format == DenseFormat::F32) {
        m.f32_.assign(w.begin(), w.end());
    } else {
        m.f16_.resize(w.size());
        for (size_t i = 0; i < w.size(); ++i) m.f16_[i] = float_to_half(w[i]);
    }
    return m;
}

float DenseMatrixCpu::weight(uint32_t row, uint32_t col) const {
    const uint64_t i = uint64_t(row) * cols_ + col;
    return format_ == DenseFormat::F32 ? f32_[i] : half_to_float(f16_[i]);
}

}  // namespace mq::cpu
