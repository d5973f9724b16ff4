#pragma once
// MoBiRoute: one small MLP per routed linear reads that linear's input x_t and scores the three
// residual slices; a threshold turns the scores into the token's depth (docs/design.md section 1).
//
//   features  u = x / r,  r = sqrt(mean(x^2) + 1e-6)      (direction)
//             a = log(r^2)                                  (scale: errors grow with |x|^2)
//   hidden    h = relu(W1 u + wa a + b1)                     [H]
//   scores    s = W2 h + b2                                  [3]: predicted log output-error
//             gain of slice e = 2, 3, 4: log(||x (W - W(e-1))^T||^2 - ||x (W - W(e))^T||^2)
//             (a checkpoint made with the global allocation adds a per-slice log loss
//             sensitivity to b2, so scores are log loss gains, comparable across linears)
//   depth     1, then slice e is added while s_e > threshold (masks are nested)
//
// Raising a linear's threshold lowers its bits. A budget table holds, for a grid of target
// average bits, one threshold per linear; the runtime interpolates it (no recalibration).
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::rt {

constexpr uint32_t kRouterOutputs = 3;  // residual slices 2..4

struct Router {
    uint32_t in = 0, hidden = 0;  // K of the linear, H
    std::vector<float> w1;        // [H][K]
    std::vector<float> wa;        // [H]
    std::vector<float> b1;        // [H]
    std::vector<float> w2;        // [3][H]
    std::vector<float> b2;        // [3]

    Router() = default;
    Router(uint32_t in, uint32_t hidden);  // zero weights of the right shapes
    std::array<float, kRouterOutputs> scores(std::span<const float> x) const;
};

// Depth 1..4 from a router's scores and a threshold (nested masks).
uint8_t routed_depth(const std::array<float, kRouterOutputs>& scores, float threshold);

struct BudgetTable {
    std::vector<float> budgets;     // ascending target average bits, e.g. 2.0, 2.05, ... 8.0
    std::vector<float> thresholds;  // [budget][layer * 7 + linear]

    // Per-linear thresholds for a target (clamped to the grid, linear between grid points).
    std::vector<float> lookup(float bits, uint32_t n_linears) const;
};

// Routers of every routed linear of a checkpoint, and their budget table.
struct RouterSet {
    std::vector<Router> routers;  // [layer * 7 + linear]
    BudgetTable table;
    const Router& at(uint32_t layer, Linear l) const {
        return routers[layer * kLinearsPerLayer + static_cast<uint32_t>(l)];
    }
};

// Depths of one token from the inputs of its linears: inputs[layer*7+linear] is that linear's x.
// (The reference forward computes them layer by layer; this is the per-linear rule.)
uint8_t route_linear(const RouterSet& set, uint32_t layer, Linear l, std::span<const float> x,
                     std::span<const float> thresholds);

}  // namespace mq::rt
