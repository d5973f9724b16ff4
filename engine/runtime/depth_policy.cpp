#include "runtime/depth_policy.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "quant/mobislice.hpp"

namespace mq::rt {

DepthPolicy DepthPolicy::uniform(uint8_t depth) {
    if (depth < 1 || depth > quant::kSlices)
        fail("--depth must be 1..4 (2/4/6/8 bits), got {}", depth);
    return {Kind::Uniform, depth, 2.0f * depth};
}

DepthPolicy DepthPolicy::budget(float bits) {
    if (!(bits >= 2.0f && bits <= 8.0f))
        fail("the bit budget must be between 2.0 and 8.0, got {}", bits);
    return {Kind::Budget, 0, bits};
}

TokenDepths DepthChooser::next() {
    if (policy_.kind == DepthPolicy::Kind::Uniform) return uniform_depths(n_layers_, policy_.depth);
    double target = policy_.bits / 2.0;  // mean depth
    double lo = std::floor(target);
    double want = target + carry_;
    uint8_t d = static_cast<uint8_t>(std::clamp(want >= lo + 0.5 ? lo + 1 : lo, 1.0, 4.0));
    if (target >= 4.0) d = 4;
    carry_ = want - d;
    return uniform_depths(n_layers_, d);
}

float average_bits(const TokenDepths& depths) {
    if (depths.empty()) return 32.0f;
    double sum = 0;
    size_t n = 0;
    for (const auto& layer : depths)
        for (uint8_t d : layer) {
            sum += d;
            ++n;
        }
    return static_cast<float>(2.0 * sum / n);
}

}  // namespace mq::rt
