#include "calib/budget_table_builder.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace mq::calib {

namespace {
double mean_depth_at(const Rows& s, float threshold) {
    uint64_t sum = 0;
    for (uint32_t t = 0; t < s.n; ++t)
        sum += rt::routed_depth({s.row(t)[0], s.row(t)[1], s.row(t)[2]}, threshold);
    return double(sum) / std::max(1u, s.n);
}
}  // namespace

float threshold_for_mean_depth(const Rows& s, double target) {
    const float inf = std::numeric_limits<float>::infinity();
    if (target <= 1.0) return inf;
    if (target >= 4.0) return -inf;
    // The mean depth only changes at score values: search the sorted scores, then put the
    // threshold halfway to the next one so small numeric differences do not flip decisions.
    std::vector<float> cand(s.v.begin(), s.v.end());
    std::sort(cand.begin(), cand.end());
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    if (cand.empty()) return inf;
    // mean_depth_at(cand[i]) falls as i grows; find the first i whose mean is <= target.
    size_t lo = 0, hi = cand.size() - 1;
    if (mean_depth_at(s, cand[hi]) > target) return cand[hi];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (mean_depth_at(s, cand[mid]) <= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    // A threshold of cand[lo] gives a mean <= target, one of cand[lo - 1] a mean above it.
    // Return the midpoint of the gap that keeps the closer mean (same decisions, with margin).
    auto gap = [&](size_t i) {
        return i + 1 < cand.size() ? 0.5f * (cand[i] + cand[i + 1]) : cand[i];
    };
    if (lo == 0) return gap(0);
    double m_above = mean_depth_at(s, cand[lo]), m_below = mean_depth_at(s, cand[lo - 1]);
    return std::abs(m_below - target) < std::abs(m_above - target) ? gap(lo - 1) : gap(lo);
}

namespace {
std::vector<float> budget_grid(float step) {
    std::vector<float> budgets;
    const uint32_t n = static_cast<uint32_t>(std::lround(6.0 / step));
    for (uint32_t i = 0; i <= n; ++i) budgets.push_back(2.0f + 6.0f * float(i) / float(n));
    return budgets;
}
}  // namespace

GlobalScoreKeys::GlobalScoreKeys(const std::vector<Rows>& scores, std::span<const float> offsets) {
    if (offsets.size() != scores.size())
        fail("{} sensitivity offsets for {} linears", offsets.size(), scores.size());
    // Nested masks: slice e is on iff min(s_2..s_e) > threshold, so the depth of a token is 1 plus
    // the number of these running minima above it.
    for (size_t i = 0; i < scores.size(); ++i) {
        const Rows& s = scores[i];
        if (s.n == 0) continue;
        linears_ += 1.0;
        const double share = 1.0 / s.n;
        for (uint32_t t = 0; t < s.n; ++t) {
            float m = std::numeric_limits<float>::infinity();
            for (uint32_t e = 0; e < rt::kRouterOutputs; ++e) {
                m = std::min(m, s.row(t)[e]);
                keys_.push_back({m + offsets[i], share});
            }
        }
    }
    std::sort(keys_.begin(), keys_.end(),
              [](const Key& a, const Key& b) { return a.value > b.value; });
}

float GlobalScoreKeys::threshold_for_bits(double bits) const {
    // Slices to hand out (in units of "one linear's every token"): mean depth - 1 per linear.
    const double want = (bits / 2.0 - 1.0) * linears_;
    const float inf = std::numeric_limits<float>::infinity();
    if (want <= 0 || keys_.empty()) return inf;
    if (want >= (rt::kRouterOutputs - 1e-9) * linears_) return -inf;
    // Take keys from the top while that keeps the count closer to the target; the threshold
    // goes halfway to the next key so tiny numeric differences flip nothing.
    double taken = 0;
    size_t i = 0;
    while (i < keys_.size() && std::abs(taken + keys_[i].weight - want) <= std::abs(taken - want)) {
        taken += keys_[i].weight;
        ++i;
    }
    // Equal keys are all on or all off: move past the rest of a tie.
    while (i > 0 && i < keys_.size() && keys_[i].value == keys_[i - 1].value) ++i;
    return i == 0             ? keys_[0].value + 1.0f
           : i < keys_.size() ? 0.5f * (keys_[i - 1].value + keys_[i].value)
                              : keys_.back().value - 1.0f;
}

double GlobalScoreKeys::bits_at(float threshold) const {
    double on = 0;
    for (const Key& k : keys_) {
        if (!(k.value > threshold)) break;  // descending
        on += k.weight;
    }
    return linears_ > 0 ? 2.0 * (1.0 + on / linears_) : 2.0;
}

rt::BudgetTable build_global_budget_table(const std::vector<Rows>& scores,
                                          std::span<const float> offsets, float step) {
    const GlobalScoreKeys keys(scores, offsets);
    rt::BudgetTable table;
    table.budgets = budget_grid(step);
    for (float bits : table.budgets) {
        const float threshold = keys.threshold_for_bits(bits);
        for (size_t l = 0; l < scores.size(); ++l)
            table.thresholds.push_back(std::isfinite(threshold) ? threshold - offsets[l]
                                                                : threshold);
    }
    return table;
}

rt::BudgetTable build_budget_table(const std::vector<Rows>& scores, float step) {
    rt::BudgetTable table;
    table.budgets = budget_grid(step);
    for (float bits : table.budgets)
        for (const Rows& s : scores)
            table.thresholds.push_back(threshold_for_mean_depth(s, bits / 2.0));
    return table;
}

}  // namespace mq::calib
