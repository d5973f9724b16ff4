// The MoBiSlice product against quant::SlicedMatrix's dequantized weights (reference_ops) on the
// int8 activations it multiplies (with outliers kept in fp32): ragged shapes, every depth, mixed
// depths in one call, 1-3 threads. The kernels accumulate in fp32 in another order than the double
// reference.
#include <doctest/doctest.h>

#include "core/error.hpp"
#include "cpu/reference_kernels.hpp"
#include "cpu/simd_target.hpp"
#include "cpu/sliced_matmul.hpp"
#include "cpu_test_data.hpp"
#include "quant/reference_ops.hpp"

using namespace mq;
using namespace mq::test;

namespace {

// Of the largest output; the largest error measured over these shapes is 8.4e-7.
constexpr double kTolerance = 4e-6;

// The oracle: quant's dequantized weights times the dequantized int8 activations.
std::vector<float> oracle(const quant::SlicedMatrix& m, const cpu::QuantizedActivations& x,
                          std::span<const uint8_t> depths) {
    std::vector<uint32_t> d(depths.begin(), depths.end());
    return quant::mobislice_matmat_reference(m, dequantized(x), d);
}

std::vector<uint8_t> mixed_depths(uint32_t tokens, uint32_t seed) {
    std::vector<uint8_t> d(tokens);
    for (uint32_t t = 0; t < tokens; ++t) d[t] = static_cast<uint8_t>(1 + (t * 7 + seed) % 4);
    return d;
}

}  // namespace

TEST_CASE("reference sliced product matches quant's dequantized weights") {
    for (auto [n, k] : kCpuShapes) {
        CAPTURE(n);
        CAPTURE(k);
        auto m = random_sliced(n, k, n * 31 + k);
        auto w = cpu::SlicedMatrixCpu::prepare(m);
        auto xf = outlier_activations(4, k, k + 3);
        cpu::QuantizedActivations x;
        cpu::quantize_activations(xf.data(), 4, k, x);
        const uint8_t depths[] = {1, 2, 3, 4};
        std::vector<float> y(4 * n);
        cpu::sliced_matmul_reference(w, x, depths, y.data());
        CHECK(relative_error(y, oracle(m, x, depths)) < 1e-7);  // the same sums, both in double
    }
}

TEST_CASE("sliced mat-vec matches the reference at every depth and thread count") {
    for (unsigned threads : {1u, 2u, 3u}) {
        cpu::ThreadPool pool(threads);
        for (auto [n, k] : kCpuShapes) {
            auto m = random_sliced(n, k, n * 17 + k);
            auto w = cpu::SlicedMatrixCpu::prepare(m);
            auto xf = outlier_activations(1, k, k + 11);
            cpu::QuantizedActivations x;
            cpu::quantize_activations(xf.data(), 1, k, x);
            for (uint8_t d = 1; d <= 4; ++d) {
                std::vector<float> y(n);
                cpu::sliced_matmul(w, x, {&d, 1}, y.data(), pool);
                const double err = relative_error(y, oracle(m, x, {&d, 1}));
                CAPTURE(threads);
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(int(d));
                CHECK(err < kTolerance);
            }
        }
    }
}

TEST_CASE("sliced mat-mat with mixed depths matches the reference token by token") {
    for (unsigned threads : {1u, 2u, 3u}) {
        cpu::ThreadPool pool(threads);
        for (auto [n, k] : kCpuShapes) {
            for (uint32_t tokens : {2u, 5u, 13u}) {
                auto m = random_sliced(n, k, n * 5 + k + tokens);
                auto w = cpu::SlicedMatrixCpu::prepare(m);
                auto xf = outlier_activations(tokens, k, k + tokens);
                cpu::QuantizedActivations x;
                cpu::quantize_activations(xf.data(), tokens, k, x);
                auto depths = mixed_depths(tokens, n);
                std::vector<float> y(uint64_t(tokens) * n);
                cpu::sliced_matmul(w, x, depths, y.data(), pool);
                const double err = relative_error(y, oracle(m, x, depths));
                CAPTURE(threads);
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(tokens);
                CHECK(err < kTolerance);
            }
        }
    }
}

TEST_CASE("sliced mat-mat with many tokens of one depth (full tiles) matches the reference") {
    cpu::ThreadPool pool(2);
    for (auto [n, k] : {CpuShape{65, 200}, CpuShape{33, 4100}, CpuShape{130, 384}}) {
        const uint32_t tokens = 23;
        auto m = random_sliced(n, k, n + k);
        auto w = cpu::SlicedMatrixCpu::prepare(m);
        auto xf = outlier_activations(tokens, k, k + 17);
        cpu::QuantizedActivations x;
        cpu::quantize_activations(xf.data(), tokens, k, x);
        std::vector<uint8_t> depths(tokens);
        for (uint32_t t = 0; t < tokens; ++t) depths[t] = t % 7 == 3 ? 4 : 2;  // 19 at depth 2
        std::vector<float> y(uint64_t(tokens) * n);
        cpu::sliced_matmul(w, x, depths, y.data(), pool);
        CAPTURE(n);
        CAPTURE(k);
        CHECK(relative_error(y, oracle(m, x, depths)) < kTolerance);
    }
}

// Measured 4.0-4.4e-3 of the largest output (6.4e-3 with one scale per 128 columns).
TEST_CASE("int8 activations stay close to the fp32-activation product") {
    cpu::ThreadPool pool(2);
    const uint32_t n = 256, k = 1000;
    auto m = random_sliced(n, k, 99);
    auto w = cpu::SlicedMatrixCpu::prepare(m);
    auto xf = random_vector(k, 7);
    cpu::QuantizedActivations x;
    cpu::quantize_activations(xf.data(), 1, k, x);
    for (uint8_t d = 1; d <= 4; ++d) {
        std::vector<float> y(n);
        cpu::sliced_matmul(w, x, {&d, 1}, y.data(), pool);
        const double err = relative_error(y, quant::mobislice_matvec_reference(m, xf, d));
        MESSAGE("depth " << int(d) << ": error against fp32 activations " << err);
        CHECK(err < 6e-3);
    }
}

// An LLM's outlier channels (here 4 of 1000, 64 times larger) are kept in fp32, so the int8
// product's error against fp32 activations stays that of the other values. Measured: 0.96-1.02
// times the error without the outliers; with the outliers sharing their 16 columns' scale, 12
// times.
TEST_CASE("outlier channels cost the int8 product no accuracy") {
    cpu::ThreadPool pool(2);
    const uint32_t n = 256, k = 1000;
    auto m = random_sliced(n, k, 99);
    auto w = cpu::SlicedMatrixCpu::prepare(m);
    auto plain = random_vector(k, 7), outliers = plain;
    for (uint32_t c : {100u, 300u, 301u, 777u}) outliers[c] = (c % 2 ? -64.0f : 64.0f) * 2.0f;
    for (uint8_t d = 1; d <= 4; ++d) {
        double err[2];
        for (int i = 0; i < 2; ++i) {
            const auto& xf = i ? outliers : plain;
            cpu::QuantizedActivations x;
            cpu::quantize_activations(xf.data(), 1, k, x);
            CHECK(x.outlier_cols.size() == (i ? 4u : 0u));
            std::vector<float> y(n);
            cpu::sliced_matmul(w, x, {&d, 1}, y.data(), pool);
            const auto exact = quant::mobislice_matvec_reference(m, xf, d);
            err[i] = 0;
            for (uint32_t r = 0; r < n; ++r)
                err[i] = std::max(err[i], std::fabs(double(y[r]) - exact[r]));
        }
        MESSAGE("depth " << int(d) << ": largest error " << err[1] << " with outliers, " << err[0]
                         << " without");
        CHECK(err[1] < 1.2 * err[0]);
    }
}

TEST_CASE("a matrix prepared or borrowed from a view reads the same weights") {
    auto m = random_sliced(9, 300, 4);
    cpu::SlicedView v{m.rows, m.cols, {}, m.scale_zero.data()};
    for (uint32_t e = 0; e < 4; ++e) v.planes[e] = m.planes[e].data();
    auto a = cpu::SlicedMatrixCpu::prepare(v), b = cpu::SlicedMatrixCpu::prepare(m);
    CHECK(a.bytes_read(2) == uint64_t(9) * (2 * 24 + 3) * 4);
    for (uint32_t d = 1; d <= 4; ++d) {
        auto ref = m.dequantize(d);
        for (uint32_t r = 0; r < 9; ++r)
            for (uint32_t c = 0; c < 300; ++c) {
                REQUIRE(a.weight(r, c, d) == ref[r * 300 + c]);
                REQUIRE(b.weight(r, c, d) == ref[r * 300 + c]);
            }
    }
    // Borrowed: the kernels read the view's words in place; copies of either kind stay valid.
    auto borrowed = cpu::SlicedMatrixCpu::borrow(v);
    CHECK(!borrowed.owns_words());
    CHECK(borrowed.plane(2) == m.planes[2].data());
    CHECK(a.owns_words());
    CHECK(a.plane(2) != m.planes[2].data());
    cpu::SlicedMatrixCpu copies[] = {borrowed, a};
    CHECK(copies[0].plane(0) == m.planes[0].data());
    CHECK(copies[1].plane(0) != a.plane(0));
    cpu::ThreadPool pool(2);
    auto xf = random_vector(2 * 300, 5);
    cpu::QuantizedActivations x;
    cpu::quantize_activations(xf.data(), 2, 300, x);
    const uint8_t depths[] = {3, 1};
    std::vector<float> y_owned(18), y_borrowed(18), y_copy(18);
    cpu::sliced_matmul(a, x, depths, y_owned.data(), pool);
    cpu::sliced_matmul(borrowed, x, depths, y_borrowed.data(), pool);
    cpu::sliced_matmul(copies[1], x, depths, y_copy.data(), pool);
    CHECK(y_owned == y_borrowed);
    CHECK(y_owned == y_copy);
    v.planes[3] = nullptr;
    CHECK_THROWS_AS(cpu::SlicedMatrixCpu::prepare(v), mq::Error);
    CHECK_THROWS_AS(cpu::SlicedMatrixCpu::borrow(v), mq::Error);
}

TEST_CASE("sliced product rejects bad depths and mismatched shapes") {
    cpu::ThreadPool pool(2);
    auto w = cpu::SlicedMatrixCpu::prepare(random_sliced(8, 130, 1));
    auto xf = random_vector(2 * 130, 2);
    cpu::QuantizedActivations x;
    cpu::quantize_activations(xf.data(), 2, 130, x);
    std::vector<float> y(16);
    const uint8_t zero[] = {1, 0}, five[] = {5, 1}, one[] = {1};
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, zero, y.data(), pool), mq::Error);
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, five, y.data(), pool), mq::Error);
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, one, y.data(), pool), mq::Error);
    cpu::quantize_activations(xf.data(), 2, 129, x);
    const uint8_t ok[] = {1, 2};
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, ok, y.data(), pool), mq::Error);
    cpu::quantize_activations(xf.data(), 2, 130, x);
    x.q.resize(x.q.size() - 1);  // hand-made activations that would be read past their end
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, ok, y.data(), pool), mq::Error);
    cpu::quantize_activations(xf.data(), 2, 130, x);
    x.outlier_cols.push_back(3);  // an outlier the row ranges do not cover
    x.outlier_values.push_back(1);
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, ok, y.data(), pool), mq::Error);
    x.outlier_begin.back() = 1;
    x.outlier_begin[1] = 1;
    x.outlier_cols.back() = 130;  // past the last column
    CHECK_THROWS_AS(cpu::sliced_matmul(w, x, ok, y.data(), pool), mq::Error);
    x.outlier_cols.back() = 129;
    cpu::sliced_matmul(w, x, ok, y.data(), pool);  // well formed again
}

TEST_CASE("sliced product matches the reference at every SIMD level this CPU has") {
    cpu::ThreadPool pool(2);
    const auto targets = cpu::simd_targets();
    REQUIRE(!targets.empty());
    for (const auto& target : targets) {
        cpu::use_simd_target(target.bits);
        CHECK(cpu::simd_target_name() == target.name);
        for (auto [n, k] : kCpuShapes) {
            auto m = random_sliced(n, k, n * 3 + k);
            auto w = cpu::SlicedMatrixCpu::prepare(m);
            const uint32_t tokens = 43;  // per depth full tiles (4 tokens) and a rest
            auto xf = outlier_activations(tokens, k, k + 1);
            cpu::QuantizedActivations x;
            cpu::quantize_activations(xf.data(), tokens, k, x);
            std::vector<uint8_t> depths(tokens);
            for (uint32_t t = 0; t < tokens; ++t) depths[t] = static_cast<uint8_t>(1 + t % 4);
            std::vector<float> y(uint64_t(tokens) * n);
            cpu::sliced_matmul(w, x, depths, y.data(), pool);
            CAPTURE(target.name);
            CAPTURE(n);
            CAPTURE(k);
            CHECK(relative_error(y, oracle(m, x, depths)) < kTolerance);
        }
    }
    cpu::use_simd_target(0);
    MESSAGE("SIMD levels tested: " << targets.size() << ", best " << cpu::simd_target_name());
}

// A batched step must give each sequence the bits it gets alone, so a token's outputs may not
// depend on the tile it shares or on how many rows a pass computes together.
TEST_CASE("each token of a batch gets the bits of its one-token product at every SIMD level") {
    cpu::ThreadPool pool(2);
    for (const auto& target : cpu::simd_targets()) {
        cpu::use_simd_target(target.bits);
        for (auto [n, k] : {CpuShape{65, 200}, CpuShape{17, 384}, CpuShape{33, 4100}}) {
            auto w = cpu::SlicedMatrixCpu::prepare(random_sliced(n, k, n + 3 * k));
            const uint32_t tokens = 11;
            auto xf = outlier_activations(tokens, k, k + 5);
            cpu::QuantizedActivations x;
            cpu::quantize_activations(xf.data(), tokens, k, x);
            auto depths = mixed_depths(tokens, k);
            std::vector<float> y(uint64_t(tokens) * n);
            cpu::sliced_matmul(w, x, depths, y.data(), pool);
            for (uint32_t t = 0; t < tokens; ++t) {
                cpu::QuantizedActivations one;
                cpu::quantize_activations(xf.data() + uint64_t(t) * k, 1, k, one);
                std::vector<float> alone(n);
                cpu::sliced_matmul(w, one, std::span(depths).subspan(t, 1), alone.data(), pool);
                CAPTURE(target.name);
                CAPTURE(n);
                CAPTURE(t);
                CHECK(std::equal(alone.begin(), alone.end(), y.begin() + uint64_t(t) * n));
            }
        }
    }
    cpu::use_simd_target(0);
}

TEST_CASE("several products in one call equal each product alone, bit for bit") {
    for (unsigned threads : {1u, 3u}) {
        cpu::ThreadPool pool(threads);
        const uint32_t k = 200, tokens = 6;
        std::vector<cpu::SlicedMatrixCpu> w;
        for (uint32_t n : {65u, 1u, 130u, 17u})
            w.push_back(cpu::SlicedMatrixCpu::prepare(random_sliced(n, k, n * 13)));
        auto xf = outlier_activations(tokens, k, 99);
        cpu::QuantizedActivations x;
        cpu::quantize_activations(xf.data(), tokens, k, x);
        std::vector<std::vector<uint8_t>> depths;
        std::vector<std::vector<float>> together, alone;
        std::vector<cpu::SlicedProduct> products;
        for (size_t i = 0; i < w.size(); ++i) {
            depths.push_back(mixed_depths(tokens, uint32_t(i)));
            together.emplace_back(uint64_t(tokens) * w[i].rows(), -1.0f);
            alone.emplace_back(uint64_t(tokens) * w[i].rows());
        }
        for (size_t i = 0; i < w.size(); ++i)
            products.push_back({&w[i], depths[i], together[i].data()});
        cpu::sliced_matmuls(products, x, pool);
        for (size_t i = 0; i < w.size(); ++i) {
            cpu::sliced_matmul(w[i], x, depths[i], alone[i].data(), pool);
            CAPTURE(threads);
            CAPTURE(i);
            CHECK(together[i] == alone[i]);
        }
        products[1].depths = std::span(depths[1]).first(tokens - 1);  // one depth short
        CHECK_THROWS_AS(cpu::sliced_matmuls(products, x, pool), mq::Error);
    }
}
