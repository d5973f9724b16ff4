#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "core/half.hpp"
#include "quant/mobislice.hpp"
#include "quant/reference_ops.hpp"
#include "quant/rtn.hpp"
#include "support/test_data.hpp"

using namespace mq::quant;
using mq::test::random_vector;

namespace {

// Heavy-tailed weights like real LLM layers: mostly small, a few outliers.
std::vector<float> llm_like_weights(uint32_t n, uint32_t k, uint32_t seed) {
    auto w = random_vector(uint64_t(n) * k, seed, 0.02f);
    for (size_t i = 0; i < w.size(); i += 97) w[i] *= 8.0f;
    return w;
}

// E[x^2] per input channel without outliers: floor + a squared normal value.
std::vector<float> channel_importance(uint32_t k, uint32_t seed, float floor) {
    auto v = random_vector(k, seed, 1.0f);
    for (float& x : v) x = floor + x * x;
    return v;
}

}  // namespace

TEST_CASE("depth-k error is within s_k/2 inside the clip range, at every depth") {
    for (uint32_t k : {128u, 256u, 200u, 77u}) {
        const uint32_t n = 33;
        auto w = llm_like_weights(n, k, k);
        SlicedMatrix m = slice_matrix(w, n, k);
        size_t inside = 0;
        for (uint32_t r = 0; r < n; ++r)
            for (uint32_t c = 0; c < k; ++c) {
                uint32_t g = c / kGroupSize;
                float s1 = m.scale(r, g), z1 = m.zero(r, g);
                float lo = -z1 * s1, hi = (4 - z1) * s1;  // what the base slice can represent
                float v = w[uint64_t(r) * k + c];
                if (v < lo || v >= hi) continue;
                inside++;
                for (uint32_t d = 1; d <= kSlices; ++d) {
                    float err = std::fabs(v - m.weight(r, c, d));
                    float bound = depth_scale(s1, d) / 2;
                    REQUIRE_MESSAGE(err <= bound * 1.001f + 1e-7f,
                                    "row " << r << " col " << c << " depth " << d);
                }
            }
        CHECK(inside > n * k * 9 / 10);  // the clip search keeps most weights inside
    }
}

TEST_CASE("a deeper read never changes the shallower codes") {
    auto w = llm_like_weights(16, 300, 7);
    SlicedMatrix m = slice_matrix(w, 16, 300);
    for (uint32_t r = 0; r < 16; ++r)
        for (uint32_t c = 0; c < 300; ++c)
            for (uint32_t d = 2; d <= kSlices; ++d)
                REQUIRE((m.combined_code(r, c, d) >> kSliceBits) == m.combined_code(r, c, d - 1));
}

TEST_CASE("each slice shrinks the error about fourfold") {
    auto w = llm_like_weights(64, 512, 3);
    SlicedMatrix m = slice_matrix(w, 64, 512);
    double prev = 0;
    for (uint32_t d = 1; d <= kSlices; ++d) {
        auto deq = m.dequantize(d);
        double se = 0;
        for (size_t i = 0; i < w.size(); ++i) se += double(w[i] - deq[i]) * (w[i] - deq[i]);
        double rmse = std::sqrt(se / w.size());
        MESSAGE("depth " << d << " (" << 2 * d << " bits): rmse " << rmse);
        if (d > 1) CHECK(rmse < prev / 2.5);
        prev = rmse;
    }
}

TEST_CASE("K not a multiple of 128: the partial last group is exact and the padding is zero") {
    const uint32_t n = 5, k = 130;
    auto w = llm_like_weights(n, k, 11);
    SlicedMatrix m = slice_matrix(w, n, k);
    CHECK(m.groups_per_row() == 2);
    CHECK(m.padded_cols() == 256);
    for (uint32_t e = 0; e < kSlices; ++e)
        for (uint32_t r = 0; r < n; ++r)
            for (uint32_t c = k; c < m.padded_cols(); ++c) REQUIRE(m.code(e, r, c) == 0);
    // The 2-column last group gets its own scale: both weights nearly exact at 8 bits.
    for (uint32_t r = 0; r < n; ++r)
        for (uint32_t c = 128; c < k; ++c)
            CHECK(std::fabs(m.weight(r, c, 4) - w[r * k + c]) <= depth_scale(m.scale(r, 1), 4));
}

TEST_CASE("activation-weighted clipping lowers the error on the channels that matter") {
    const uint32_t n = 32, k = 256;
    auto w = llm_like_weights(n, k, 5);
    std::vector<float> importance(k, 0.01f);
    for (uint32_t c = 0; c < k; c += 8) importance[c] = 100.0f;  // a few hot channels
    SliceOptions plain;
    plain.clip_steps = 0;
    SliceOptions weighted;
    weighted.channel_importance = importance;
    auto weighted_error = [&](const SlicedMatrix& m) {
        double e = 0;
        for (uint32_t d = 1; d <= kSlices; ++d) {
            auto deq = m.dequantize(d);
            for (uint32_t r = 0; r < n; ++r)
                for (uint32_t c = 0; c < k; ++c) {
                    double diff = w[r * k + c] - deq[r * k + c];
                    e += importance[c] * diff * diff;
                }
        }
        return e;
    };
    CHECK(weighted_error(slice_matrix(w, n, k, weighted)) <
          weighted_error(slice_matrix(w, n, k, plain)));
}

TEST_CASE("bad shapes are refused with a message") {
    std::vector<float> w(10);
    CHECK_THROWS_WITH_AS(slice_matrix(w, 3, 4), doctest::Contains("3x4"), mq::Error);
    CHECK_THROWS_AS(slice_matrix({}, 0, 4), mq::Error);
    SlicedMatrix m = slice_matrix(std::vector<float>(128, 1.0f), 1, 128);
    CHECK_THROWS_AS(m.weight(0, 0, 5), mq::Error);
}

namespace {

// The clipping search's objective in double, as the slicing defines it: per value the squared
// error at every depth weighted 16^(k-1), times the channel importance.
double exact_group_error(const float* w, const float* imp, uint32_t n, float s1, float z1) {
    double err = 0;
    for (uint32_t i = 0; i < n; ++i) {
        float q = std::clamp(std::floor(w[i] / s1 + z1), 0.0f, 3.0f);
        float r = w[i] - s1 * (q - z1 + 0.5f);
        double e2 = double(r) * r, dw = 1;
        float s = s1;
        for (uint32_t e = 1; e < kSlices; ++e) {
            s *= 0.25f;
            dw *= 16;
            float qe = std::clamp(std::floor(r / s) + 2.0f, 0.0f, 3.0f);
            r -= s * (qe - 1.5f);
            e2 += dw * double(r) * r;
        }
        err += imp[i] * e2;
    }
    return err;
}

// (s1, z1) of a clip range, as the slicing rounds them to fp16.
std::pair<float, float> params(float lo, float hi) {
    float range = std::max({hi - lo, 1e-3f * std::max(std::fabs(lo), std::fabs(hi)), 1e-6f});
    uint16_t s_bits = mq::float_to_half(range / 4);
    if ((s_bits & 0x7fff) == 0) s_bits = 1;
    float s1 = mq::half_to_float(s_bits);
    return {s1, mq::half_to_float(mq::float_to_half(-lo / s1))};
}

}  // namespace

TEST_CASE("the clipping search picks the candidate with the least error (or one within 1e-4)") {
    const uint32_t n = 24, k = 512;
    auto w = llm_like_weights(n, k, 11);
    std::vector<float> importance = channel_importance(k, 12, 0.1f);
    SliceOptions o;
    o.channel_importance = importance;
    o.expand_steps = 0;  // the clipped candidates only, every depth counting equally
    o.depth_weights = {1, 1, 1, 1};
    o.spread_base_weight = 0;
    SlicedMatrix m = slice_matrix(w, n, k, o);
    uint32_t exact_picks = 0, groups = 0;
    for (uint32_t r = 0; r < n; ++r)
        for (uint32_t g = 0; g < m.groups_per_row(); ++g, ++groups) {
            const float* wg = w.data() + size_t(r) * k + g * kGroupSize;
            const float* ig = importance.data() + g * kGroupSize;
            auto [mn, mx] = std::minmax_element(wg, wg + kGroupSize);
            double best = INFINITY;
            for (uint32_t step = 0; step <= o.clip_steps; ++step) {
                float a = 1.0f - (1.0f - o.min_clip) * step / o.clip_steps;
                auto [s1, z1] = params(a * *mn, a * *mx);
                best = std::min(best, exact_group_error(wg, ig, kGroupSize, s1, z1));
            }
            double chosen = exact_group_error(wg, ig, kGroupSize, m.scale(r, g), m.zero(r, g));
            CHECK(chosen <= best * (1 + 1e-4));
            exact_picks += chosen == best;
        }
    CHECK(exact_picks >= groups * 9 / 10);
}

namespace {

// Importance-weighted squared error of an approximation of w (n x k).
double weighted_error(const std::vector<float>& w, const std::vector<float>& approx,
                      const std::vector<float>& importance, uint32_t k) {
    double e = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        const double d = double(w[i]) - approx[i];
        e += importance[i % k] * d * d;
    }
    return e;
}

// weighted_error of m read at each depth 1..4, and of round-to-nearest at 2, 4, 6, 8 bits.
using DepthErrors = std::array<double, kSlices>;
DepthErrors depth_errors(const std::vector<float>& w, const SlicedMatrix& m,
                         const std::vector<float>& importance) {
    DepthErrors e;
    for (uint32_t d = 1; d <= kSlices; ++d)
        e[d - 1] = weighted_error(w, m.dequantize(d), importance, m.cols);
    return e;
}

// Two slicings of w (n x k) and round-to-nearest at 2/4/6/8 bits, weighted by importance; prints
// each slicing's error over round-to-nearest's at every depth.
struct SlicingComparison {
    DepthErrors rtn, a, b;
};
SlicingComparison compare_slicings(const std::vector<float>& w, uint32_t n, uint32_t k,
                                   const std::vector<float>& importance, SliceOptions a,
                                   const std::string& a_name, SliceOptions b,
                                   const std::string& b_name) {
    a.channel_importance = b.channel_importance = importance;
    SlicingComparison c;
    c.a = depth_errors(w, slice_matrix(w, n, k, a), importance);
    c.b = depth_errors(w, slice_matrix(w, n, k, b), importance);
    for (uint32_t d = 1; d <= kSlices; ++d) {
        c.rtn[d - 1] = weighted_error(w, rtn_quantize(w, n, k, 2 * d, importance), importance, k);
        MESSAGE("depth " << d << " error / round-to-nearest at " << 2 * d << " bits: " << a_name
                         << " " << c.a[d - 1] / c.rtn[d - 1] << ", " << b_name << " "
                         << c.b[d - 1] / c.rtn[d - 1]);
    }
    return c;
}

}  // namespace

TEST_CASE("with activation outliers, depth 1 and 2 match dedicated 2- and 4-bit quantizers") {
    // Weight outliers (llm_like_weights) and activation outliers: a few input channels with
    // E[x^2] thousands of times the rest, as in LLMs' massive activations.
    const uint32_t n = 64, k = 512;
    auto w = llm_like_weights(n, k, 21);
    std::vector<float> importance = channel_importance(k, 22, 0.5f);
    for (uint32_t c = 5; c < k; c += 101) importance[c] *= 4096.0f;

    SliceOptions equal;  // the previous search: clipped ranges, every depth counting equally
    equal.expand_steps = 0;
    equal.depth_weights = {1, 1, 1, 1};
    equal.spread_base_weight = 0;
    const auto [rtn, old_e, new_e] =
        compare_slicings(w, n, k, importance, equal, "equal", SliceOptions{}, "weighted");
    CHECK(new_e[0] <= 0.6 * rtn[0]);  // measured 0.54x
    CHECK(new_e[1] <= 1.2 * rtn[1]);  // 1.10x, where equal weights give 3.1x
    // What 6 and 8 bits give up for it stays bounded (measured 1.4x and 5.7x equal weights').
    CHECK(new_e[2] < 1.7 * old_e[2]);
    CHECK(new_e[3] < 6.5 * old_e[3]);
}

TEST_CASE("where input channels matter alike, depth 1 matches a dedicated 2-bit quantizer") {
    // No activation outliers: the 2-bit optimum clips the weight outliers, which only a large
    // depth-1 weight in the search picks (SliceOptions::spread_base_weight).
    const uint32_t n = 64, k = 512;
    auto w = llm_like_weights(n, k, 31);
    std::vector<float> importance = channel_importance(k, 32, 0.5f);

    SliceOptions uniform_weights;
    uniform_weights.spread_base_weight = 0;
    const auto [rtn, spread_e, uniform_e] =
        compare_slicings(w, n, k, importance, SliceOptions{}, "spread weight", uniform_weights,
                         "depth_weights only");
    CHECK(spread_e[0] <= 1.03 * rtn[0]);  // measured 1.011x, depth_weights alone 1.13x
    CHECK(spread_e[0] < uniform_e[0]);
    // The clipping costs 8 bits (measured 7.5x): bounded, and small next to 2 bits' error.
    CHECK(spread_e[3] < 10 * uniform_e[3]);
}

TEST_CASE("the widened ranges keep every weight inside the base range") {
    // A group with one large weight: round-to-nearest keeps it on a grid point; the floor grid
    // can only by widening its range (min/max puts it an eighth of the range from a point).
    std::vector<float> w(kGroupSize, 0.0f);
    for (uint32_t i = 0; i < kGroupSize; ++i) w[i] = 0.01f * std::sin(0.37f * i);
    w[17] = 0.2f;
    std::vector<float> importance(kGroupSize, 1.0f);
    importance[17] = 1e4f;
    SliceOptions o;
    o.channel_importance = importance;
    o.depth_weights = {1, 0, 0, 0};
    SlicedMatrix m = slice_matrix(w, 1, kGroupSize, o);
    SliceOptions no_widening = o;
    no_widening.expand_steps = 0;
    SlicedMatrix m0 = slice_matrix(w, 1, kGroupSize, no_widening);
    const float e = std::fabs(m.weight(0, 17, 1) - w[17]),
                e0 = std::fabs(m0.weight(0, 17, 1) - w[17]);
    MESSAGE("2-bit error of the large weight: widened " << e << ", min/max or clipped " << e0);
    CHECK(e < e0 / 4);
    const float s1 = m.scale(0, 0), z1 = m.zero(0, 0);
    for (float v : w) CHECK((v >= -z1 * s1 && v < (4 - z1) * s1));
}
