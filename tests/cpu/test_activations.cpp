// Activation quantization: every column lands in its own slot, within half a step of the input,
// the per-group sums match, the padding is zero.
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
        std::vector<int> used(q.row_bytes, 0);
        for (uint32_t t = 0; t < rows; ++t) {
            for (uint32_t g = 0; g < q.groups; ++g) {
                const float scale = q.scales[t * q.groups + g];
                int32_t sum = 0;
                for (uint32_t c = g * 128; c < std::min(cols, g * 128 + 128); ++c) {
                    const float err = std::fabs(q.value(t, c) - x[uint64_t(t) * cols + c]);
                    CHECK(err <= 0.5f * scale * 1.0001f + 1e-30f);
                    sum += q.q[uint64_t(t) * q.row_bytes + cpu::QuantizedActivations::position(c)];
                    if (t == 0) used[cpu::QuantizedActivations::position(c)] = 1;
                }
                CHECK(sum == q.sums[t * q.groups + g]);
            }
        }
        for (uint32_t p = 0; p < q.row_bytes; ++p)
            if (!used[p])
                for (uint32_t t = 0; t < rows; ++t) CHECK(q.q[uint64_t(t) * q.row_bytes + p] == 0);
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
            auto x = random_vector(uint64_t(5) * cols, cols * 3, 3.0f);
            for (uint32_t c = 0; c < std::min(cols, 128u); ++c) x[c] = 0;  // an all-zero group
            cpu::QuantizedActivations fast, ref;
            cpu::quantize_activations(x.data(), 5, cols, fast);
            cpu::quantize_activations_reference(x.data(), 5, cols, ref);
            CHECK(fast.row_bytes == ref.row_bytes);
            CHECK(fast.q == ref.q);
            CHECK(fast.scales == ref.scales);
            CHECK(fast.sums == ref.sums);
        }
    }
    cpu::use_simd_target(0);
}
