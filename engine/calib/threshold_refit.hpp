#pragma once
// Refit of the global budget table to the activations the runtime routes (docs/design.md,
// "Threshold refit"). The table is fitted on router scores of calibration activations taken
// with earlier layers at uniformly random depths; at run time earlier layers are routed, and
// where a depth changes a layer's output a lot, the scores the routers then see are distributed
// differently, so the achieved bits miss the budget. The refit runs windows of calibration
// tokens through the model routed, each window at one anchor budget (calib/routed_pass.hpp),
// and reads the scores routing gives as the calibration scores shifted by a threshold offset:
// on the window's own tokens, the calibration scores give some bits at the anchor's calibrated
// threshold (the window's level of that budget), and the threshold at which the routed scores
// give the same bits, minus the calibrated one, is the anchor's shift. Pairing the same tokens
// cancels what the window's text does to the bits, so a window of 128 tokens measures it. Budget
// b's threshold becomes its calibrated threshold plus the shift interpolated between anchors.
// Routing at the refitted thresholds changes the scores again a little: further rounds route at
// them and re-read the shift (a fixed-point iteration; one round is enough on the testbeds).
#include <cstdint>
#include <functional>
#include <vector>

#include "calib/routed_pass.hpp"
#include "calib/rows.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

// The budgets the refit measures the shift at, one per refit window: evenly spread over 2..8
// bits (for 8 windows 2.375, 3.125, ..., 7.625).
std::vector<float> refit_anchors(uint32_t windows);

// Routes the refit tokens as `runs` says and returns every linear's router scores on them
// (calib/routed_pass.hpp).
using RouteFn = std::function<std::vector<Rows>(const RoutedRuns& runs)>;

// What each round measured at the anchors.
struct RefitRound {
    // Bits the whole calibration set is estimated to achieve at run time with the thresholds the
    // round routed at (its calibration scores shifted by the measured shift), per anchor.
    std::vector<double> estimated_bits;
    double worst_miss() const;  // max |estimated - anchor|
    std::vector<float> anchors;
};

// scores: every linear's router scores on every calibration token with the loss-sensitivity
// offsets folded in, so one threshold serves all linears (as build_global_budget_table(scores,
// zeros) made the table). rows: the calibration row of each refit token, in windows of
// `window` tokens that the route function runs as sequences (the first tokens of calibration
// sequences, so each refit token has the prefix it had in calibration); window w is routed at
// refit_anchors(windows)[w], so that its tokens attend to tokens routed at the same budget, as at
// run time. rounds: routed passes, each from the thresholds the previous one refitted. Returns
// the table for the budgets of `grid` (ascending, 2.0 to 8.0). round(r, report) is called after
// each round.
rt::BudgetTable refit_global_table(
    const std::vector<Rows>& scores, const std::vector<uint32_t>& rows, uint32_t window,
    const std::vector<float>& grid, uint32_t rounds, const RouteFn& route,
    const std::function<void(uint32_t, const RefitRound&)>& round = {});

}  // namespace mq::calib
