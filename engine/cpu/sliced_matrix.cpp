#include "cpu/sliced_matrix.hpp"

#include "core/error.hpp"
#include "core/half.hpp"

namespace mq::cpu {

SlicedMatrixCpu SlicedMatrixCpu::borrow(const SlicedView& view) {
    if (view.rows == 0 || view.cols == 0)
        fail("sliced matrix {}x{} is empty", view.rows, view.cols);
    if (!view.scale_zero) fail("sliced matrix {}x{} has no scale/zero words", view.rows, view.cols);
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        if (!view.planes[e])
            fail("sliced matrix {}x{} lacks plane {}", view.rows, view.cols, e + 1);
    SlicedMatrixCpu m;
    m.rows_ = view.rows;
    m.cols_ = view.cols;
    for (uint32_t e = 0; e < quant::kSlices; ++e) m.planes_[e] = view.planes[e];
    m.scale_zero_ = view.scale_zero;
    return m;
}

SlicedMatrixCpu SlicedMatrixCpu::prepare(const SlicedView& view) {
    SlicedMatrixCpu m = borrow(view);
    const uint64_t words = uint64_t(view.rows) * m.words_per_row();
    for (uint32_t e = 0; e < quant::kSlices; ++e) {
        m.owned_planes_[e].assign(view.planes[e], view.planes[e] + words);
        m.planes_[e] = m.owned_planes_[e].data();
    }
    m.owned_scale_zero_.assign(view.scale_zero,
                               view.scale_zero + uint64_t(view.rows) * m.groups_per_row());
    m.scale_zero_ = m.owned_scale_zero_.data();
    return m;
}

SlicedMatrixCpu& SlicedMatrixCpu::operator=(const SlicedMatrixCpu& other) {
    if (this == &other) return *this;
    if (other.rows_ == 0) return *this = SlicedMatrixCpu();
    SlicedView v{other.rows_, other.cols_, {}, other.scale_zero_};
    for (uint32_t e = 0; e < quant::kSlices; ++e) v.planes[e] = other.planes_[e];
    *this = other.owns_words() ? prepare(v) : borrow(v);
    return *this;
}

SlicedMatrixCpu SlicedMatrixCpu::prepare(const quant::SlicedMatrix& m) {
    SlicedView v{m.rows, m.cols, {}, m.scale_zero.data()};
    const uint64_t words = uint64_t(m.rows) * m.words_per_row();
    for (uint32_t e = 0; e < quant::kSlices; ++e) {
        if (m.planes[e].size() != words)
            fail("sliced matrix {}x{}: plane {} has {} words, expected {}", m.rows, m.cols, e + 1,
                 m.planes[e].size(), words);
        v.planes[e] = m.planes[e].data();
    }
    if (m.scale_zero.size() != uint64_t(m.rows) * m.groups_per_row())
        fail("sliced matrix {}x{}: {} scale/zero words, expected {}", m.rows, m.cols,
             m.scale_zero.size(), uint64_t(m.rows) * m.groups_per_row());
    return prepare(v);
}

uint64_t SlicedMatrixCpu::bytes_read(uint32_t depth) const {
    return uint64_t(rows_) * (uint64_t(depth) * words_per_row() + groups_per_row()) * 4;
}

float SlicedMatrixCpu::weight(uint32_t row, uint32_t col, uint32_t depth) const {
    if (depth < 1 || depth > quant::kSlices)
        fail("depth {} is outside 1..{}", depth, quant::kSlices);
    const uint64_t word = uint64_t(row) * words_per_row() + col / quant::kCodesPerWord;
    const uint32_t shift = quant::kSliceBits * (col % quant::kCodesPerWord);
    uint32_t q = 0;
    for (uint32_t e = 0; e < depth; ++e)
        q = (q << quant::kSliceBits) | ((planes_[e][word] >> shift) & 3u);
    const uint32_t sz = scale_zero_[uint64_t(row) * groups_per_row() + col / quant::kGroupSize];
    const float s1 = half_to_float(static_cast<uint16_t>(sz));
    const float z1 = half_to_float(static_cast<uint16_t>(sz >> 16));
    return quant::depth_scale(s1, depth) * (static_cast<float>(q) - quant::depth_zero(z1, depth));
}

}  // namespace mq::cpu
