// The SIMD grouped-query attention and SwiGLU against plain double-precision loops, at every SIMD
// level this CPU has, on ragged sizes (tails shorter than a vector).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "cpu/simd_target.hpp"
#include "cpu/vector_math.hpp"
#include "support/test_data.hpp"

using namespace mq;
using namespace mq::test;

namespace {

// Measured: up to 1.4e-6 relative (float sums of a few hundred terms, Highway's 1-ulp exp).
constexpr double kVectorMathTolerance = 3e-6;

std::vector<float> attend_reference(const float* q, const float* keys, const float* values,
                                    uint64_t stride, uint32_t n, uint32_t head_dim, float scale) {
    std::vector<double> p(n);
    double max_score = -INFINITY;
    for (uint32_t s = 0; s < n; ++s) {
        double dot = 0;
        for (uint32_t i = 0; i < head_dim; ++i) dot += double(q[i]) * keys[s * stride + i];
        p[s] = dot * scale;
        max_score = std::max(max_score, p[s]);
    }
    double sum = 0;
    for (double& x : p) sum += x = std::exp(x - max_score);
    std::vector<float> out(head_dim);
    for (uint32_t i = 0; i < head_dim; ++i) {
        double acc = 0;
        for (uint32_t s = 0; s < n; ++s) acc += p[s] * values[s * stride + i];
        out[i] = static_cast<float>(acc / sum);
    }
    return out;
}

}  // namespace

TEST_CASE("SIMD grouped-query attention matches the reference at every SIMD level") {
    for (const auto& target : cpu::simd_targets()) {
        cpu::use_simd_target(target.bits);
        for (uint32_t head_dim : {64u, 80u, 7u, 128u}) {
            for (uint32_t heads : {1u, 4u, 7u}) {  // groups of 4 and single heads
                for (uint32_t n : {1u, 5u, 37u, 300u}) {
                    const uint64_t stride = head_dim * 3 + 1;  // other heads between positions
                    auto q = random_vector(heads * head_dim, head_dim + n + heads, 2.0f);
                    auto keys = random_vector(n * stride, n * 5 + head_dim, 2.0f);
                    auto values = random_vector(n * stride, n * 11 + head_dim);
                    std::vector<float> scores(std::min(heads, 4u) * n), out(heads * head_dim);
                    const float scale = 1.0f / std::sqrt(float(head_dim));
                    cpu::attend_heads(q.data(), heads, keys.data(), values.data(), stride, n,
                                      head_dim, scale, scores.data(), out.data());
                    std::vector<float> ref;
                    for (uint32_t h = 0; h < heads; ++h) {
                        auto r = attend_reference(q.data() + h * head_dim, keys.data(),
                                                  values.data(), stride, n, head_dim, scale);
                        ref.insert(ref.end(), r.begin(), r.end());
                    }
                    CAPTURE(target.name);
                    CAPTURE(head_dim);
                    CAPTURE(heads);
                    CAPTURE(n);
                    CHECK(relative_error(out, ref) < kVectorMathTolerance);
                }
            }
        }
    }
    cpu::use_simd_target(0);
}

TEST_CASE("SIMD SwiGLU matches the reference at every SIMD level, far tails included") {
    for (const auto& target : cpu::simd_targets()) {
        cpu::use_simd_target(target.bits);
        for (uint64_t n : {1ull, 13ull, 64ull, 1001ull}) {
            auto gate = random_vector(n, uint32_t(n), 8.0f), up = random_vector(n, uint32_t(n) + 1);
            gate[0] = n > 1 ? -120.0f : 95.0f;  // e^120 overflows a float
            if (n > 2) gate[1] = 120.0f;
            std::vector<float> ref(n);
            for (uint64_t i = 0; i < n; ++i)
                ref[i] = static_cast<float>(gate[i] / (1.0 + std::exp(-double(gate[i]))) * up[i]);
            cpu::silu_mul(gate.data(), up.data(), n);
            CAPTURE(target.name);
            CAPTURE(n);
            CHECK(relative_error(gate, ref) < kVectorMathTolerance);
            for (float g : gate) CHECK(std::isfinite(g));
        }
    }
    cpu::use_simd_target(0);
}
