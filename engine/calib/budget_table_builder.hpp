#pragma once
// The budget table (DESIGN.md section 2, step 4): for a grid of target average bits, the
// per-linear thresholds that meet the target on the calibration tokens.
#include <cstdint>
#include <vector>

#include "calib/rows.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

// scores[i] = router scores of linear i (layer * 7 + linear) on the calibration tokens.
// Every linear is given the target on its own: its threshold is the one at which its tokens'
// mean depth equals bits / 2, so the routers choose which tokens get the slices and each linear
// keeps the same average (one knob, no linear starved).
rt::BudgetTable build_budget_table(const std::vector<Rows>& scores, float step = 0.05f);

// The threshold at which the mean routed depth of `scores` is closest to `mean_depth` (1..4).
float threshold_for_mean_depth(const Rows& scores, double mean_depth);

}  // namespace mq::calib
