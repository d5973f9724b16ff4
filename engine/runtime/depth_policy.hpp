#pragma once
// How each token's depths are chosen; runtime/policy_forward.hpp runs a forward under a policy.
// A plain (unquantized) model always runs dense.
//  - Uniform: every routed linear reads the same number of slices (--depth k).
//  - Budget: a target of average bits (2.0 .. 8.0). On a checkpoint with routers the routers
//    choose per token and linear, with thresholds from the checkpoint's budget table; on one
//    without (format version 1) the budget falls back to Mix.
//  - Mix: the two neighbouring uniform depths, mixed token by token (error diffusion keeps the
//    running mean on target). A control in the quality table.
//  - Random: every token and linear draws its depth from a given distribution per linear. The
//    other control: same bits as the routers, no knowledge of the token.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::rt {

// [layer * 7 + linear][depth - 1]: probability of each depth.
using DepthDistribution = std::vector<std::array<double, 4>>;

struct DepthPolicy {
    enum class Kind { Uniform, Budget, Mix, Random } kind = Kind::Uniform;
    uint8_t depth = 4;  // Uniform
    float bits = 8.0f;  // Budget, Mix: target average bits over routed linears
    std::shared_ptr<const DepthDistribution> distribution;  // Random
    uint32_t seed = 1;                                      // Random

    static DepthPolicy uniform(uint8_t depth);
    static DepthPolicy budget(float bits);  // throws mq::Error outside 2..8
    static DepthPolicy mix(float bits);
    static DepthPolicy random(std::shared_ptr<const DepthDistribution> distribution, uint32_t seed);
};

// Share of each depth per routed linear in the depths tokens used (the random control's input).
std::shared_ptr<DepthDistribution> depth_distribution(const std::vector<TokenDepths>& used,
                                                      uint32_t n_layers);

// Average bits over routed linears (2 bits per slice).
float average_bits(const TokenDepths& depths);

}  // namespace mq::rt
