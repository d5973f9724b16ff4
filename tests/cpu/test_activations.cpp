// Activation quantization: every column lands in its own slot, within half a step of the input,
// the per-16-column sums match, the padding is zero, outliers are kept apart.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "core/error.hpp"
#include "cpu/reference_kernels.hpp"
#include "cpu/simd_target.hpp"
#include "cpu_test_data.hpp"

using namespace mq;
using namespace mq::test;

TEST_CASE("activation positions are a permutation inside each group pair") {
    std::set<uint32_t> seen;
    for (uint32_t c = 0; c < 256; ++c) {
        const uint32_t p = cpu::QuantizedActivations::position(c);
        CHECK(p < 256);  // inside the pair of groups
        seen.insert(p);
    }
    CHECK(seen.size() == 256);
    CHECK(cpu::QuantizedActivations::position(256) == 256);
}

TEST_CASE("quantized activations are within half a step of the input") {
    for (uint32_t cols : {1u, 77u, 128u, 200u, 384u, 4100u}) {
        CAPTURE(cols);
        const uint32_t rows = 3;
        auto x = random_vector(uint64_t(rows) * cols, cols, 2.0f);
        x[0] = 0;  // a zero, and an all-zero group below
        if (cols >= 256)
            for (uint32_t c = 128; c < 256; ++c) x[cols + c] = 0;
        cpu::QuantizedActivations q;
        cpu::quantize_activations(x.data(), rows, cols, q);
        REQUIRE(q.groups == (cols + 127) / 128);
        REQUIRE(q.row_bytes % 256 == 0);
        REQUIRE(q.scales.size() == uint64_t(rows) * q.groups * cpu::kScalesPerGroup);
        CHECK(q.outlier_cols.empty());  // none in normal data
        std::vector<int> used(q.row_bytes, 0);
        for (uint32_t t = 0; t < rows; ++t) {
            for (uint32_t b = 0; b * cpu::kScaleColumns < cols; ++b) {
                const uint64_t i = uint64_t(t) * q.groups * cpu::kScalesPerGroup + b;
                int32_t sum = 0;
                for (uint32_t c = b * 16; c < std::min(cols, b * 16 + 16); ++c) {
                    const float err = std::fabs(q.value(t, c) - x[uint64_t(t) * cols + c]);
                    CHECK(err <= 0.5f * q.scales[i] * 1.0001f + 1e-30f);
                    sum += q.q[uint64_t(t) * q.row_bytes + cpu::QuantizedActivations::position(c)];
                    if (t == 0) used[cpu::QuantizedActivations::position(c)] = 1;
                }
                CHECK(sum == q.sums[i]);
            }
        }
        for (uint32_t p = 0; p < q.row_bytes; ++p)
            if (!used[p])
                for (uint32_t t = 0; t < rows; ++t) CHECK(q.q[uint64_t(t) * q.row_bytes + p] == 0);
    }
}

TEST_CASE("outliers are kept exactly, at most 4 a group, and their columns' scales ignore them") {
    for (uint32_t cols : {200u, 300u, 1000u}) {
        CAPTURE(cols);
        std::vector<float> x = random_vector(2 * cols, cols);
        // Row 0: one outlier in a group; row 1: 6 in the first group (the 4 largest kept apart)
        // and one in the last, partial group.
        x[3] = 100.0f;
        const uint32_t big[] = {1, 2, 40, 41, 90, 127};
        for (uint32_t i = 0; i < 6; ++i) x[cols + big[i]] = (i % 2 ? -1.0f : 1.0f) * (200.0f + i);
        x[cols + cols - 2] = -80.0f;
        cpu::QuantizedActivations q;
        cpu::quantize_activations(x.data(), 2, cols, q);
        const std::vector<uint32_t> expected = {3, 40, 41, 90, 127, cols - 2};
        REQUIRE(q.outlier_begin == std::vector<uint32_t>{0, 1, 6});
        for (uint32_t i = 0; i < 6; ++i) {
            const uint32_t t = i == 0 ? 0 : 1, c = expected[i];
            CHECK(q.outlier_cols[i] == c);
            CHECK(q.outlier_values[i] == x[t * cols + c]);
            CHECK(q.value(t, c) == x[t * cols + c]);
            CHECK(q.q[t * q.row_bytes + cpu::QuantizedActivations::position(c)] == 0);
        }
        // The 16 columns around an outlier keep the scale of their own values.
        float rest = 0;
        for (uint32_t c = 0; c < 16; ++c)
            if (c != 3) rest = std::max(rest, std::fabs(x[c]));
        CHECK(q.scales[0] == rest / 127.0f);
        // Columns 1 and 2 were not kept apart (the group's 5th and 6th largest): their block's
        // scale is theirs.
        CHECK(q.scales[q.groups * cpu::kScalesPerGroup] == 201.0f / 127.0f);
        CHECK(std::fabs(q.value(1, 1) - x[cols + 1]) <= 0.5f * 201.0f / 127.0f);
    }
}

TEST_CASE("activation quantization rejects non-finite input") {
    std::vector<float> x(130, 1.0f);
    x[129] = NAN;
    cpu::QuantizedActivations q;
    CHECK_THROWS_AS(cpu::quantize_activations(x.data(), 1, 130, q), mq::Error);
    x[129] = 1;
    x[3] = INFINITY;
    CHECK_THROWS_AS(cpu::quantize_activations(x.data(), 1, 130, q), mq::Error);
}

TEST_CASE("SIMD activation quantization equals the scalar reference at every SIMD level") {
    for (const auto& target : cpu::simd_targets()) {
        cpu::use_simd_target(target.bits);
        for (uint32_t cols : {1u, 77u, 128u, 200u, 384u, 4100u}) {
            CAPTURE(target.name);
            CAPTURE(cols);
            auto x = outlier_activations(5, cols, cols * 3);
            for (uint32_t c = 0; c < std::min(cols, 128u); ++c) x[cols + c] = 0;  // all-zero group
            cpu::QuantizedActivations fast, ref;
            cpu::quantize_activations(x.data(), 5, cols, fast);
            cpu::quantize_activations_reference(x.data(), 5, cols, ref);
            CHECK(fast.row_bytes == ref.row_bytes);
            CHECK(fast.q == ref.q);
            CHECK(fast.scales == ref.scales);
            CHECK(fast.sums == ref.sums);
            CHECK(fast.outlier_begin == ref.outlier_begin);
            CHECK(fast.outlier_cols == ref.outlier_cols);
            CHECK(fast.outlier_values == ref.outlier_values);
            if (cols >= 128) CHECK(!fast.outlier_cols.empty());
        }
    }
    cpu::use_simd_target(0);
}
