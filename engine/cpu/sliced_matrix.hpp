#pragma once
// A MoBiSlice matrix in the layout the CPU kernels read: the four 2-bit planes kept apart (a
// product at depth k reads only the first k) and the fp16 scale/zero words, as in
// quant::SlicedMatrix (engine/quant/mobislice.hpp documents the code order inside a word).
#include <cstdint>
#include <vector>

#include "quant/mobislice.hpp"

namespace mq::cpu {

struct SlicedView {  // may point into a memory-mapped checkpoint
    uint32_t rows = 0, cols = 0;
    const uint32_t* planes[quant::kSlices] = {};  // rows * words_per_row words each
    const uint32_t* scale_zero = nullptr;         // rows * groups_per_row packHalf2x16(s1, z1)
};

class SlicedMatrixCpu {
  public:
    SlicedMatrixCpu() = default;
    SlicedMatrixCpu(const SlicedMatrixCpu& other) { *this = other; }
    SlicedMatrixCpu& operator=(const SlicedMatrixCpu& other);
    SlicedMatrixCpu(SlicedMatrixCpu&&) noexcept = default;  // vectors keep their buffers
    SlicedMatrixCpu& operator=(SlicedMatrixCpu&&) noexcept = default;

    static SlicedMatrixCpu prepare(const SlicedView& view);  // copies what it keeps
    static SlicedMatrixCpu prepare(const quant::SlicedMatrix& m);
    // Reads the view's words in place (no copy: a memory-mapped checkpoint stays the only
    // copy); the view's memory must outlive the matrix.
    static SlicedMatrixCpu borrow(const SlicedView& view);

    uint32_t rows() const { return rows_; }
    uint32_t cols() const { return cols_; }
    uint32_t groups_per_row() const { return (cols_ + quant::kGroupSize - 1) / quant::kGroupSize; }
    uint32_t words_per_row() const { return groups_per_row() * quant::kWordsPerGroup; }
    // Bytes one mat-vec at `depth` reads: the first `depth` planes and the scale/zero words.
    uint64_t bytes_read(uint32_t depth) const;
    bool owns_words() const { return !owned_scale_zero_.empty(); }

    // The layout the kernels read: plane e (0-based), row-major, words_per_row() words a row;
    // scale_zero() holds groups_per_row() words a row.
    const uint32_t* plane(uint32_t e) const { return planes_[e]; }
    const uint32_t* scale_zero() const { return scale_zero_; }

    // W(depth)(row, col), exactly quant::SlicedMatrix::weight (the reference kernels' view).
    float weight(uint32_t row, uint32_t col, uint32_t depth) const;

  private:
    uint32_t rows_ = 0, cols_ = 0;
    const uint32_t* planes_[quant::kSlices] = {};
    const uint32_t* scale_zero_ = nullptr;
    std::vector<uint32_t> owned_planes_[quant::kSlices];  // empty when borrowed
    std::vector<uint32_t> owned_scale_zero_;
};

}  // namespace mq::cpu
