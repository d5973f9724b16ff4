#include "runtime/depth_policy.hpp"

#include "core/error.hpp"
#include "quant/mobislice.hpp"

namespace mq::rt {

namespace {
void check_bits(float bits) {
    if (!(bits >= 2.0f && bits <= 8.0f))
        fail("the bit budget must be between 2.0 and 8.0, got {}", bits);
}
}  // namespace

DepthPolicy DepthPolicy::uniform(uint8_t depth) {
    if (depth < 1 || depth > quant::kSlices)
        fail("--depth must be 1..4 (2/4/6/8 bits), got {}", depth);
    DepthPolicy p;
    p.kind = Kind::Uniform;
    p.depth = depth;
    p.bits = 2.0f * depth;
    return p;
}

DepthPolicy DepthPolicy::budget(float bits) {
    check_bits(bits);
    DepthPolicy p;
    p.kind = Kind::Budget;
    p.bits = bits;
    return p;
}

DepthPolicy DepthPolicy::mix(float bits) {
    DepthPolicy p = budget(bits);
    p.kind = Kind::Mix;
    return p;
}

DepthPolicy DepthPolicy::random(std::shared_ptr<const DepthDistribution> distribution,
                                uint32_t seed) {
    if (!distribution || distribution->empty()) fail("a random depth policy needs a distribution");
    DepthPolicy p;
    p.kind = Kind::Random;
    p.distribution = std::move(distribution);
    p.seed = seed;
    return p;
}

std::shared_ptr<DepthDistribution> depth_distribution(const std::vector<TokenDepths>& used,
                                                      uint32_t n_layers) {
    if (used.empty()) fail("no depths to count");
    auto dist = std::make_shared<DepthDistribution>(n_layers * kLinearsPerLayer);
    for (const auto& td : used)
        for (uint32_t l = 0; l < n_layers; ++l)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
                (*dist)[l * kLinearsPerLayer + j][td[l][j] - 1] += 1.0 / used.size();
    return dist;
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
