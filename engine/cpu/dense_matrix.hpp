#pragma once
// Unquantized linears and the output head on the CPU, fp32 or fp16 storage.
#include <cstdint>
#include <span>
#include <vector>

#include "cpu/thread_pool.hpp"

namespace mq::cpu {

enum class DenseFormat { F32, F16 };

class DenseMatrixCpu {
  public:
    DenseMatrixCpu() = default;
    // w is rows x cols row-major; F16 rounds to nearest even.
    static DenseMatrixCpu prepare(std::span<const float> w, uint32_t rows, uint32_t cols,
                                  DenseFormat format);

    uint32_t rows() const { return rows_; }
    uint32_t cols() const { return cols_; }
    DenseFormat format() const { return format_; }
    uint64_t bytes() const {
        return uint64_t(rows_) * cols_ * (format_ == DenseFormat::F32 ? 4 : 2);
    }

    // Row-major storage: f32() for F32, f16() (IEEE half bits) for F16; the other is empty.
    const float* f32() const { return f32_.data(); }
    const uint16_t* f16() const { return f16_.data(); }
    float weight(uint32_t row, uint32_t col) const;  // the stored value as float

  private:
    uint32_t rows_ = 0, cols_ = 0;
    DenseFormat format_ = DenseFormat::F32;
    std::vector<float> f32_;
    std::vector<uint16_t> f16_;
};

// y[t * rows + r] = sum_c W(r, c) x[t * cols + c], t < n: a SIMD mat-vec for one token, SIMD
// tiles of 4 rows x 4 tokens for a few, OpenBLAS sgemm for 64 tokens and more in fp32.
void dense_matmul(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y, ThreadPool& pool);

}  // namespace mq::cpu
