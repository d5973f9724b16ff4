#pragma once
// Random test data and the error measure the kernel tests share.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

namespace mq::test {

inline std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// max |a - b| / max |b|: error relative to the largest reference value.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0, scale = 1e-12;
    for (size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return worst / scale;
}

}  // namespace mq::test
