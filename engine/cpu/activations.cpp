// Activation quantization with Highway: per group of 128, the largest magnitude, codes rounded to
// nearest even (as lrintf), and a 4-way byte de-interleave into the kernels' order.
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

// One group of `count` <= 128 values: codes to dst[j * 64 + i] for column 4i + j, the scale and
// the sum of codes. False when a value is not finite.
bool QuantizeGroup(const float* x, uint32_t count, int8_t* dst, float* scale, int32_t* sum) {
    HWY_ALIGN float padded[128];
    if (count < 128) {
        std::fill(std::copy(x, x + count, padded), padded + 128, 0.0f);
        x = padded;
    }
    const hn::ScalableTag<float> df;
    const hn::RebindToSigned<decltype(df)> di;
    const hn::Rebind<int8_t, decltype(df)> d8;
    const size_t n = hn::Lanes(df);
    auto amax = hn::Zero(df), probe = hn::Zero(df);  // probe: NaN once any value is not finite
    for (size_t c = 0; c < 128; c += n) {
        const auto v = hn::LoadU(df, x + c);
        amax = hn::Max(amax, hn::Abs(v));
        probe = hn::MulAdd(v, hn::Zero(df), probe);
    }
    if (!std::isfinite(hn::GetLane(hn::SumOfLanes(df, probe)))) return false;
    const float m = hn::GetLane(hn::MaxOfLanes(df, amax));
    const auto inv = hn::Set(df, m > 0 ? 127.0f / m : 0.0f);
    HWY_ALIGN int8_t codes[128];
    auto s = hn::Zero(di);
    for (size_t c = 0; c < 128; c += n) {
        const auto q = hn::NearestInt(hn::Mul(hn::LoadU(df, x + c), inv));
        s = hn::Add(s, q);
        hn::StoreU(hn::DemoteTo(d8, q), d8, codes + c);
    }
    *sum = hn::GetLane(hn::SumOfLanes(di, s));
    *scale = m / 127.0f;
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
    scales.assign(uint64_t(rows) * groups, 0.0f);
    sums.assign(uint64_t(rows) * groups, 0);
}

void quantize_activations(const float* x, uint32_t rows, uint32_t cols, QuantizedActivations& out) {
    out.reshape(rows, cols);
    const auto quantize_group = HWY_DYNAMIC_DISPATCH(detail::QuantizeGroup);
    for (uint32_t r = 0; r < rows; ++r) {
        const float* xr = x + uint64_t(r) * cols;
        int8_t* qr = out.q.data() + uint64_t(r) * out.row_bytes;
        for (uint32_t g = 0; g < out.groups; ++g) {
            const uint64_t i = uint64_t(r) * out.groups + g;
            const uint32_t begin = g * 128, count = std::min(cols - begin, 128u);
            if (!quantize_group(xr + begin, count, qr + (g / 2) * 256 + (g % 2) * 32,
                                &out.scales[i], &out.sums[i])) {
                uint32_t c = begin;
                while (c < begin + count && std::isfinite(xr[c])) ++c;
                fail("activation {} of row {} is {}", c, r, xr[std::min(c, begin + count - 1)]);
            }
        }
    }
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
