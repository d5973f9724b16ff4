// Dense products: one token is a SIMD mat-vec over rows (fp32, or fp16 widened in registers) on
// the pool; several tokens a register-tiled SIMD product on the pool, or OpenBLAS sgemm for a
// long fp32 prefill.
#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/half.hpp"
#include "cpu/dense_matrix.hpp"
#include "cpu/prefetch.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/dense_matmul.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
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
float RowDot(const T* w, const float* x, uint32_t cols, uint64_t stream_left) {
    const hn::ScalableTag<float> df;
    const size_t n = hn::Lanes(df);
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    size_t c = 0;
    // Rows stream from memory: prefetch a cache line at a time, not past the stream_left weights
    // from w on that the call reads.
    constexpr size_t kAhead = kPrefetchBytes / sizeof(T), kLine = 64 / sizeof(T);
    for (; c + 4 * n <= cols; c += 4 * n) {
        for (size_t l = 0; l < 4 * n; l += kLine)
            if (c + l + kAhead < stream_left) hwy::Prefetch(w + c + l + kAhead);
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
        y[r] = w16 ? RowDot(w16 + uint64_t(r) * cols, x, cols, uint64_t(r1 - r) * cols)
                   : RowDot(w32 + uint64_t(r) * cols, x, cols, uint64_t(r1 - r) * cols);
}

// Several tokens: tiles of 4 rows x 4 tokens, 16 accumulators, so each loaded weight vector
// serves 4 tokens and each activation vector 4 rows. Rows [r0, r1) of y for all n tokens.
template <class T>
void DenseTiles(const T* w, uint32_t cols, const float* x, uint32_t n, uint32_t rows, uint32_t r0,
                uint32_t r1, float* y) {
    const hn::ScalableTag<float> df;
    const size_t lanes = hn::Lanes(df);
    const uint32_t body = static_cast<uint32_t>(cols / lanes * lanes);
    for (uint32_t r = r0; r < r1; r += 4) {
        const uint32_t nr = std::min(4u, r1 - r);
        const T* wr[4];
        for (uint32_t i = 0; i < 4; ++i) wr[i] = w + uint64_t(r + std::min(i, nr - 1)) * cols;
        for (uint32_t t = 0; t < n; t += 4) {
            const uint32_t nt = std::min(4u, n - t);
            const float* xt[4];
            for (uint32_t j = 0; j < 4; ++j) xt[j] = x + uint64_t(t + std::min(j, nt - 1)) * cols;
            hn::Vec<decltype(df)> acc[4][4];
            for (auto& row : acc)
                for (auto& a : row) a = hn::Zero(df);
            for (uint32_t c = 0; c < body; c += lanes) {
                const auto w0 = LoadWeights(df, wr[0] + c), w1 = LoadWeights(df, wr[1] + c);
                const auto w2 = LoadWeights(df, wr[2] + c), w3 = LoadWeights(df, wr[3] + c);
                for (uint32_t j = 0; j < 4; ++j) {
                    const auto xv = hn::LoadU(df, xt[j] + c);
                    acc[0][j] = hn::MulAdd(w0, xv, acc[0][j]);
                    acc[1][j] = hn::MulAdd(w1, xv, acc[1][j]);
                    acc[2][j] = hn::MulAdd(w2, xv, acc[2][j]);
                    acc[3][j] = hn::MulAdd(w3, xv, acc[3][j]);
                }
            }
            for (uint32_t i = 0; i < nr; ++i)
                for (uint32_t j = 0; j < nt; ++j) {
                    float sum = hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
                    for (uint32_t c = body; c < cols; ++c) sum += WeightValue(wr[i][c]) * xt[j][c];
                    y[uint64_t(t + j) * rows + r + i] = sum;
                }
        }
    }
}

// w32 or w16 (fp16 bits), whichever is set.
void DenseTileRows(const float* w32, const uint16_t* w16, uint32_t cols, const float* x, uint32_t n,
                   uint32_t rows, uint32_t r0, uint32_t r1, float* y) {
    if (w16)
        DenseTiles(w16, cols, x, n, rows, r0, r1, y);
    else
        DenseTiles(w32, cols, x, n, rows, r0, r1, y);
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cblas.h>

namespace mq::cpu {
namespace detail {
HWY_EXPORT(DenseRows);
HWY_EXPORT(DenseTileRows);
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
    // Up to kSgemmTokens tokens, and fp16 always: 4x4 register tiles on the pool. OpenBLAS brings
    // its own threads, which on a machine with few cores fight the pool's (a 1024x512 product of
    // 2 tokens took 9.7 ms through sgemm, 0.03 ms in tiles); its blocking pays off for long
    // prefills only.
    constexpr uint32_t kSgemmTokens = 64;
    if (f16 || n < kSgemmTokens) {
        const auto kernel = HWY_DYNAMIC_DISPATCH(detail::DenseTileRows);
        pool.parallel_for(tasks, [&](uint32_t b, uint32_t e) {
            kernel(f16 ? nullptr : w.f32(), f16 ? w.f16() : nullptr, cols, x, n, rows,
                   b * kRowsPerTask, std::min(rows, e * kRowsPerTask), y);
        });
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(rows), int(cols), 1.0f, x,
                int(cols), w.f32(), int(cols), 0.0f, y, int(rows));
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
