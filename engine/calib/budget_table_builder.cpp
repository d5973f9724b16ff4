#include "calib/budget_table_builder.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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

rt::BudgetTable build_budget_table(const std::vector<Rows>& scores, float step) {
    rt::BudgetTable table;
    const uint32_t n = static_cast<uint32_t>(std::lround(6.0 / step));
    for (uint32_t i = 0; i <= n; ++i) table.budgets.push_back(2.0f + 6.0f * float(i) / float(n));
    for (float bits : table.budgets)
        for (const Rows& s : scores)
            table.thresholds.push_back(threshold_for_mean_depth(s, bits / 2.0));
    return table;
}

}  // namespace mq::calib
