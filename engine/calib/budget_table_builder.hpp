#pragma once
// The budget table (docs/design.md, "Budget table" and "Global allocation"): for a grid of
// target average bits, the per-linear thresholds that meet the target on the calibration tokens.
#include <cstdint>
#include <span>
#include <vector>

#include "calib/rows.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

// scores[i] = router scores of linear i (layer * 7 + linear) on the calibration tokens.
// Every linear is given the target on its own: its threshold is the one at which its tokens'
// mean depth equals bits / 2, so the routers choose which tokens get the slices and each linear
// keeps the same average (one knob, no linear starved).
rt::BudgetTable build_budget_table(const std::vector<Rows>& scores, float step = 0.05f);

// The global allocation's view of router scores: every (token, linear, slice) as the key at
// which that slice turns on (nested masks: the running minimum of s_2..s_e, plus the linear's
// offset), sorted, each linear's tokens counting as a share 1/n_i so that linears with more
// calibration tokens do not weigh more.
class GlobalScoreKeys {
  public:
    GlobalScoreKeys(const std::vector<Rows>& scores, std::span<const float> offsets);
    // The one threshold at which the mean bits over all linears and tokens is closest to `bits`
    // (infinite at 2 bits and below, minus infinity at 8 and above).
    float threshold_for_bits(double bits) const;
    // The mean bits at a threshold.
    double bits_at(float threshold) const;

  private:
    struct Key {
        float value;
        double weight;
    };
    std::vector<Key> keys_;  // descending values
    double linears_ = 0;     // linears with tokens
};

// One global threshold per budget on scores made comparable across linears: linear i's scores
// plus offsets[i] (log loss per unit of its output error, calib/linear_sensitivity.hpp) estimate
// the loss each slice removes, and the threshold at which the mean depth over all linears and
// tokens equals bits / 2 gives the slices to the tokens and linears where they buy the most.
// Stored per linear as threshold - offsets[i], so the runtime is unchanged.
rt::BudgetTable build_global_budget_table(const std::vector<Rows>& scores,
                                          std::span<const float> offsets, float step = 0.05f);

// The threshold at which the mean routed depth of `scores` is closest to `mean_depth` (1..4).
float threshold_for_mean_depth(const Rows& scores, double mean_depth);

}  // namespace mq::calib
