#include "runtime/router.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace mq::rt {

Router::Router(uint32_t in_, uint32_t hidden_)
    : in(in_),
      hidden(hidden_),
      w1(size_t(hidden_) * in_),
      wa(hidden_),
      b1(hidden_),
      w2(size_t(kRouterOutputs) * hidden_),
      b2(kRouterOutputs) {}

std::array<float, kRouterOutputs> Router::scores(std::span<const float> x) const {
    double ms = 0;
    for (uint32_t i = 0; i < in; ++i) ms += double(x[i]) * x[i];
    float r2 = static_cast<float>(ms / in) + 1e-6f;
    float inv_r = 1.0f / std::sqrt(r2), a = std::log(r2);
    std::array<float, kRouterOutputs> s{};
    for (uint32_t o = 0; o < kRouterOutputs; ++o) s[o] = b2[o];
    for (uint32_t h = 0; h < hidden; ++h) {
        const float* row = w1.data() + size_t(h) * in;
        float dot = 0;
        for (uint32_t i = 0; i < in; ++i) dot += row[i] * x[i];
        float v = std::max(0.0f, dot * inv_r + wa[h] * a + b1[h]);
        for (uint32_t o = 0; o < kRouterOutputs; ++o) s[o] += w2[o * hidden + h] * v;
    }
    return s;
}

uint8_t routed_depth(const std::array<float, kRouterOutputs>& scores, float threshold) {
    uint8_t depth = 1;
    while (depth <= kRouterOutputs && scores[depth - 1] > threshold) ++depth;
    return depth;
}

std::vector<float> BudgetTable::lookup(float bits, uint32_t n_linears) const {
    if (budgets.empty() || thresholds.size() != budgets.size() * n_linears)
        fail("the budget table does not match the model's {} routed linears", n_linears);
    auto row = [&](size_t b) { return thresholds.begin() + b * n_linears; };
    if (bits <= budgets.front()) return {row(0), row(0) + n_linears};
    if (bits >= budgets.back())
        return {row(budgets.size() - 1), row(budgets.size() - 1) + n_linears};
    size_t hi = std::upper_bound(budgets.begin(), budgets.end(), bits) - budgets.begin();
    size_t lo = hi - 1;
    float f = (bits - budgets[lo]) / (budgets[hi] - budgets[lo]);
    std::vector<float> out(n_linears);
    for (uint32_t i = 0; i < n_linears; ++i) {
        float a = row(lo)[i], b = row(hi)[i];
        // An infinite threshold (never add a slice) does not interpolate: take the nearer end.
        out[i] = std::isfinite(a) && std::isfinite(b) ? a + f * (b - a) : (f < 0.5f ? a : b);
    }
    return out;
}

uint8_t route_linear(const RouterSet& set, uint32_t layer, Linear l, std::span<const float> x,
                     std::span<const float> thresholds) {
    uint32_t i = layer * kLinearsPerLayer + static_cast<uint32_t>(l);
    return routed_depth(set.routers[i].scores(x), thresholds[i]);
}

}  // namespace mq::rt
