// Activation quantization with Highway: per group of 128 the outliers (far above the mean
// magnitude) kept apart, then per 16 columns the largest magnitude and codes rounded to nearest
// even (as lrintf), and a 4-way byte de-interleave into the kernels' order.
#include "cpu/activations.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/activations.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mq::cpu::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Inserts column c into offsets[0..n): up to kMaxOutliersPerGroup columns by decreasing |x| (a
// tie keeps the earlier column).
void KeepLargest(const float* x, uint32_t c, uint32_t* offsets, uint32_t& n) {
    const float a = std::fabs(x[c]);
    if (n == kMaxOutliersPerGroup && !(a > std::fabs(x[offsets[n - 1]]))) return;
    uint32_t i = std::min(n, kMaxOutliersPerGroup - 1);
    for (; i > 0 && a > std::fabs(x[offsets[i - 1]]); --i) offsets[i] = offsets[i - 1];
    offsets[i] = c;
    n = std::min(n + 1, kMaxOutliersPerGroup);
}

// The outliers of a group of 128 values (zero-padded past `count`) whose largest magnitude is
// amax, by the rule of quantize_activations_reference: their offsets, ascending; returns how
// many. The magnitudes' sum is taken in integers, so the lanes' order gives the reference's.
uint32_t SelectOutliers(const float* x, uint32_t count, float amax, uint32_t* offsets) {
    const float k = 65536.0f / amax;
    if (!(amax > 0) || !std::isfinite(k)) return 0;
    const hn::ScalableTag<float> df;
    const hn::RebindToSigned<decltype(df)> di;
    const size_t n = hn::Lanes(df);
    HWY_ALIGN float u[128];
    auto sum = hn::Zero(di);
    for (size_t c = 0; c < 128; c += n) {
        const auto v = hn::Mul(hn::Abs(hn::LoadU(df, x + c)), hn::Set(df, k));
        hn::Store(v, df, u + c);
        sum = hn::Add(sum, hn::NearestInt(v));
    }
    const float limit = kOutlierRatio * static_cast<float>(hn::GetLane(hn::SumOfLanes(di, sum)));
    const float columns = static_cast<float>(count);
    uint32_t found = 0;
    for (size_t c = 0; c < 128; c += n) {
        if (hn::AllFalse(
                df, hn::Gt(hn::Mul(hn::Load(df, u + c), hn::Set(df, columns)), hn::Set(df, limit))))
            continue;
        for (size_t i = c; i < c + n; ++i)
            if (u[i] * columns > limit) KeepLargest(x, static_cast<uint32_t>(i), offsets, found);
    }
    std::sort(offsets, offsets + found);
    return found;
}

// One group of `count` <= 128 values: codes to dst[j * 64 + i] for column 4i + j, the scale and
// sum of codes of each 16 columns (kScalesPerGroup each) and the outliers' offsets
// (kMaxOutliersPerGroup slots). False when a value is not finite.
bool QuantizeGroup(const float* x, uint32_t count, int8_t* dst, float* scales, int32_t* sums,
                   uint32_t* outliers, uint32_t* outlier_count) {
    HWY_ALIGN float padded[128];
    if (count < 128) {
        std::fill(std::copy(x, x + count, padded), padded + 128, 0.0f);
        x = padded;
    }
    const hn::ScalableTag<float> df;
    const size_t n = hn::Lanes(df);
    auto amax = hn::Zero(df), probe = hn::Zero(df);  // probe: NaN once any value is not finite
    for (size_t c = 0; c < 128; c += n) {
        const auto v = hn::LoadU(df, x + c);
        amax = hn::Max(amax, hn::Abs(v));
        probe = hn::MulAdd(v, hn::Zero(df), probe);
    }
    if (!std::isfinite(hn::GetLane(hn::SumOfLanes(df, probe)))) return false;
    *outlier_count = SelectOutliers(x, count, hn::GetLane(hn::MaxOfLanes(df, amax)), outliers);
    if (*outlier_count) {  // codes 0 for them, the scales from the rest
        if (x != padded) {
            std::copy(x, x + 128, padded);
            x = padded;
        }
        for (uint32_t i = 0; i < *outlier_count; ++i) padded[outliers[i]] = 0;
    }
    const hn::CappedTag<float, kScaleColumns> ds;
    const hn::RebindToSigned<decltype(ds)> di;
    const hn::Rebind<int8_t, decltype(ds)> d8;
    const size_t ns = hn::Lanes(ds);
    HWY_ALIGN int8_t codes[128];
    for (uint32_t b = 0; b < kScalesPerGroup; ++b) {
        const float* xb = x + b * kScaleColumns;
        auto bmax = hn::Zero(ds);
        for (size_t c = 0; c < kScaleColumns; c += ns)
            bmax = hn::Max(bmax, hn::Abs(hn::LoadU(ds, xb + c)));
        const float m = hn::GetLane(hn::MaxOfLanes(ds, bmax));
        const auto inv = hn::Set(ds, m > 0 ? 127.0f / m : 0.0f);
        auto s = hn::Zero(di);
        for (size_t c = 0; c < kScaleColumns; c += ns) {
            const auto q = hn::NearestInt(hn::Mul(hn::LoadU(ds, xb + c), inv));
            s = hn::Add(s, q);
            hn::StoreU(hn::DemoteTo(d8, q), d8, codes + b * kScaleColumns + c);
        }
        sums[b] = hn::GetLane(hn::SumOfLanes(di, s));
        scales[b] = m / 127.0f;
    }
    const hn::CappedTag<int8_t, 32> db;
    for (size_t i = 0; i < 32; i += hn::Lanes(db)) {
        hn::Vec<decltype(db)> v0, v1, v2, v3;
        hn::LoadInterleaved4(db, codes + 4 * i, v0, v1, v2, v3);
        hn::StoreU(v0, db, dst + i);
        hn::StoreU(v1, db, dst + 64 + i);
        hn::StoreU(v2, db, dst + 128 + i);
        hn::StoreU(v3, db, dst + 192 + i);
    }
    return true;
}

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mq::cpu {
namespace detail {
HWY_EXPORT(QuantizeGroup);
}

void QuantizedActivations::reshape(uint32_t rows_, uint32_t cols_) {
    if (cols_ == 0) fail("activations with 0 columns");
    rows = rows_;
    cols = cols_;
    groups = (cols + 127) / 128;
    row_bytes = (groups + 1) / 2 * 256;
    q.assign(uint64_t(rows) * row_bytes, 0);
    scales.assign(uint64_t(rows) * groups * kScalesPerGroup, 0.0f);
    sums.assign(uint64_t(rows) * groups * kScalesPerGroup, 0);
    outlier_begin.assign(uint64_t(rows) + 1, 0);
    outlier_cols.clear();
    outlier_values.clear();
}

void quantize_activations(const float* x, uint32_t rows, uint32_t cols, QuantizedActivations& out) {
    out.reshape(rows, cols);
    const auto quantize_group = HWY_DYNAMIC_DISPATCH(detail::QuantizeGroup);
    for (uint32_t r = 0; r < rows; ++r) {
        const float* xr = x + uint64_t(r) * cols;
        int8_t* qr = out.q.data() + uint64_t(r) * out.row_bytes;
        for (uint32_t g = 0; g < out.groups; ++g) {
            const uint64_t i = (uint64_t(r) * out.groups + g) * kScalesPerGroup;
            const uint32_t begin = g * 128, count = std::min(cols - begin, 128u);
            uint32_t outliers[kMaxOutliersPerGroup], outlier_count = 0;
            if (!quantize_group(xr + begin, count, qr + (g / 2) * 256 + (g % 2) * 32,
                                &out.scales[i], &out.sums[i], outliers, &outlier_count)) {
                uint32_t c = begin;
                while (c < begin + count && std::isfinite(xr[c])) ++c;
                fail("activation {} of row {} is {}", c, r, xr[std::min(c, begin + count - 1)]);
            }
            for (uint32_t k = 0; k < outlier_count; ++k) {
                out.outlier_cols.push_back(begin + outliers[k]);
                out.outlier_values.push_back(xr[begin + outliers[k]]);
            }
        }
        out.outlier_begin[r + 1] = static_cast<uint32_t>(out.outlier_cols.size());
    }
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
