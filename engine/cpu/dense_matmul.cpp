// Dense products: one token is a SIMD mat-vec over rows (fp32, or fp16 widened in registers) on
// the pool; several tokens go to OpenBLAS sgemm (fp16 rows widened block by block first).
#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/half.hpp"
#include "cpu/dense_matrix.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/dense_matmul.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mq::cpu::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Loads lanes of W as float: fp32 as is, fp16 widened.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const float* p) {
    return hn::LoadU(df, p);
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const uint16_t* p) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
}
inline float WeightValue(float w) {
    return w;
}
inline float WeightValue(uint16_t w) {
    return half_to_float(w);
}

template <class T>
float RowDot(const T* w, const float* x, uint32_t cols) {
    const hn::ScalableTag<float> df;
    const size_t n = hn::Lanes(df);
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    size_t c = 0;
    for (; c + 4 * n <= cols; c += 4 * n) {
        a0 = hn::MulAdd(LoadWeights(df, w + c), hn::LoadU(df, x + c), a0);
        a1 = hn::MulAdd(LoadWeights(df, w + c + n), hn::LoadU(df, x + c + n), a1);
        a2 = hn::MulAdd(LoadWeights(df, w + c + 2 * n), hn::LoadU(df, x + c + 2 * n), a2);
        a3 = hn::MulAdd(LoadWeights(df, w + c + 3 * n), hn::LoadU(df, x + c + 3 * n), a3);
    }
    for (; c + n <= cols; c += n) a0 = hn::MulAdd(LoadWeights(df, w + c), hn::LoadU(df, x + c), a0);
    float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
    for (; c < cols; ++c) sum += WeightValue(w[c]) * x[c];
    return sum;
}

// y[r] = W(r, :) x for rows [r0, r1); fp16 bits when f16 is set.
void DenseRows(const float* w32, const uint16_t* w16, uint32_t cols, const float* x, uint32_t r0,
               uint32_t r1, float* y) {
    for (uint32_t r = r0; r < r1; ++r)
        y[r] = w16 ? RowDot(w16 + uint64_t(r) * cols, x, cols)
                   : RowDot(w32 + uint64_t(r) * cols, x, cols);
}

// fp16 bits to fp32, n values.
void WidenHalves(const uint16_t* in, size_t count, float* out) {
    const hn::ScalableTag<float> df;
    const hn::Rebind<hwy::float16_t, decltype(df)> dh;
    const size_t n = hn::Lanes(df);
    const auto* h = reinterpret_cast<const hwy::float16_t*>(in);
    size_t i = 0;
    for (; i + n <= count; i += n) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, h + i)), df, out + i);
    for (; i < count; ++i) out[i] = half_to_float(in[i]);
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cblas.h>

namespace mq::cpu {
namespace detail {
HWY_EXPORT(DenseRows);
HWY_EXPORT(WidenHalves);
}  // namespace detail

void dense_matmul(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y, ThreadPool& pool) {
    if (n == 0) return;
    const uint32_t rows = w.rows(), cols = w.cols();
    const bool f16 = w.format() == DenseFormat::F16;
    constexpr uint32_t kRowsPerTask = 16;
    const uint32_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    if (n == 1) {
        const auto kernel = HWY_DYNAMIC_DISPATCH(detail::DenseRows);
        pool.parallel_for(tasks, [&](uint32_t b, uint32_t e) {
            kernel(f16 ? nullptr : w.f32(), f16 ? w.f16() : nullptr, cols, x, b * kRowsPerTask,
                   std::min(rows, e * kRowsPerTask), y);
        });
        return;
    }
    // Y (n x rows) = X (n x cols) W^T, ldc = rows; fp16 widened a block of rows at a time.
    auto gemm = [&](const float* wb, uint32_t r0, uint32_t count) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(count), int(cols), 1.0f, x,
                    int(cols), wb, int(cols), 0.0f, y + r0, int(rows));
    };
    if (!f16) return gemm(w.f32(), 0, rows);
    const uint32_t block = std::max<uint32_t>(64, (4u << 20) / (cols * 4));  // ~4 MiB of fp32
    std::vector<float> wide(uint64_t(std::min(block, rows)) * cols);
    const auto widen = HWY_DYNAMIC_DISPATCH(detail::WidenHalves);
    for (uint32_t r0 = 0; r0 < rows; r0 += block) {
        const uint32_t count = std::min(block, rows - r0);
        pool.parallel_for(count, [&](uint32_t b, uint32_t e) {
            widen(w.f16() + (uint64_t(r0) + b) * cols, uint64_t(e - b) * cols,
                  wide.data() + uint64_t(b) * cols);
        });
        gemm(wide.data(), r0, count);
    }
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
