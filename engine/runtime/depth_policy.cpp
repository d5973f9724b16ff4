#include "runtime/depth_policy.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "quant/mobislice.hpp"
#include "runtime/router.hpp"
#include "runtime/vulkan_forward.hpp"

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

DepthChooser::DepthChooser(uint32_t n_layers, DepthPolicy policy,
                           std::shared_ptr<const RouterSet> routers)
    : n_layers_(n_layers), routers_(std::move(routers)) {
    set_policy(std::move(policy));
}

void DepthChooser::set_policy(DepthPolicy policy) {
    policy_ = std::move(policy);
    if (policy_.kind == DepthPolicy::Kind::Random) {
        if (policy_.distribution->size() != size_t(n_layers_) * kLinearsPerLayer)
            fail("the depth distribution covers {} linears, the model has {}",
                 policy_.distribution->size(), n_layers_ * kLinearsPerLayer);
        rng_.seed(policy_.seed);
    }
    thresholds_.clear();
    if (routed()) thresholds_ = routers_->table.lookup(policy_.bits, n_layers_ * kLinearsPerLayer);
}

bool DepthChooser::routed() const {
    return routers_ && policy_.kind == DepthPolicy::Kind::Budget;
}

TokenDepths DepthChooser::next() {
    switch (policy_.kind) {
        case DepthPolicy::Kind::Uniform:
            return uniform_depths(n_layers_, policy_.depth);
        case DepthPolicy::Kind::Random: {
            TokenDepths out(n_layers_);
            std::uniform_real_distribution<double> u(0.0, 1.0);
            for (uint32_t l = 0; l < n_layers_; ++l)
                for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                    const auto& p = (*policy_.distribution)[l * kLinearsPerLayer + j];
                    double r = u(rng_), c = 0;
                    uint8_t d = 4;
                    for (uint8_t k = 0; k < 4; ++k)
                        if (r < (c += p[k])) {
                            d = k + 1;
                            break;
                        }
                    out[l][j] = d;
                }
            return out;
        }
        case DepthPolicy::Kind::Budget:
        case DepthPolicy::Kind::Mix:
            break;
    }
    double target = policy_.bits / 2.0;  // mean depth
    double lo = std::floor(target);
    double want = target + carry_;
    uint8_t d = static_cast<uint8_t>(std::clamp(want >= lo + 0.5 ? lo + 1 : lo, 1.0, 4.0));
    if (target >= 4.0) d = 4;
    carry_ = want - d;
    return uniform_depths(n_layers_, d);
}

std::vector<float> forward_with(VulkanForward& forward, DepthChooser& chooser,
                                std::span<const uint32_t> tokens, uint32_t start_pos,
                                bool all_logits, std::vector<TokenDepths>* used) {
    if (!forward.quantized()) return forward.forward(tokens, start_pos, {}, all_logits);
    if (chooser.routed() && forward.routed())
        return forward.forward_routed(tokens, start_pos, chooser.thresholds(), all_logits, used);
    std::vector<TokenDepths> depths;
    for (size_t i = 0; i < tokens.size(); ++i) depths.push_back(chooser.next());
    std::vector<float> logits = forward.forward(tokens, start_pos, depths, all_logits);
    if (used) used->insert(used->end(), depths.begin(), depths.end());
    return logits;
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
