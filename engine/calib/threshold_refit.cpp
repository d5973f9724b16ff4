#include "calib/threshold_refit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "calib/budget_table_builder.hpp"
#include "core/error.hpp"

namespace mq::calib {

double RefitRound::worst_miss() const {
    double worst = 0;
    for (size_t a = 0; a < anchors.size(); ++a)
        worst = std::max(worst, std::abs(estimated_bits[a] - anchors[a]));
    return worst;
}

std::vector<float> refit_anchors(uint32_t windows) {
    std::vector<float> anchors;
    for (uint32_t w = 0; w < windows; ++w)
        anchors.push_back(2.0f + 6.0f * (float(w) + 0.5f) / float(windows));
    return anchors;
}

namespace {

// The rows of `tokens` (token t is row rows[t], or row t when rows is empty) of every linear.
std::vector<Rows> subset(const std::vector<Rows>& scores, const std::vector<uint32_t>& tokens,
                         const std::vector<uint32_t>& rows) {
    std::vector<Rows> out;
    for (const Rows& s : scores) {
        Rows r(static_cast<uint32_t>(tokens.size()), s.width);
        for (uint32_t i = 0; i < r.n; ++i)
            std::copy_n(s.row(rows.empty() ? tokens[i] : rows[tokens[i]]), s.width, r.row(i));
        out.push_back(std::move(r));
    }
    return out;
}

// The shift at budget b: linear between the anchors, constant beyond them.
float shift_at(const std::vector<float>& anchors, const std::vector<float>& shift, float b) {
    if (b <= anchors.front()) return shift.front();
    for (size_t a = 1; a < anchors.size(); ++a)
        if (b <= anchors[a])
            return shift[a - 1] +
                   (shift[a] - shift[a - 1]) * (b - anchors[a - 1]) / (anchors[a] - anchors[a - 1]);
    return shift.back();
}

}  // namespace

rt::BudgetTable refit_global_table(const std::vector<Rows>& scores,
                                   const std::vector<uint32_t>& rows, uint32_t window,
                                   const std::vector<float>& grid, uint32_t rounds,
                                   const RouteFn& route,
                                   const std::function<void(uint32_t, const RefitRound&)>& round) {
    if (rounds == 0) fail("the threshold refit needs at least one round");
    if (scores.empty()) fail("no router scores to refit the thresholds on");
    if (window == 0 || rows.empty() || rows.size() % window)
        fail("{} refit tokens do not fill windows of {}", rows.size(), window);
    for (const Rows& s : scores) {
        if (s.width != rt::kRouterOutputs)
            fail("router scores need {} values per token", rt::kRouterOutputs);
        for (uint32_t r : rows)
            if (r >= s.n) fail("refit token {} is past the {} calibration tokens", r, s.n);
    }
    const std::vector<float> anchors = refit_anchors(static_cast<uint32_t>(rows.size() / window));

    const std::vector<float> no_offsets(scores.size(), 0.0f);
    const GlobalScoreKeys keys(scores, no_offsets);
    // Window w routes at anchor w. (Interleaving the anchors token by token within a sequence
    // measured the wrong shift at low bits, where the context's precision matters.)
    RoutedRuns runs;
    std::vector<std::vector<uint32_t>> tokens_of(anchors.size());
    for (uint32_t t = 0; t < rows.size(); ++t) {
        runs.run_of_token.push_back(t / window);
        tokens_of[t / window].push_back(t);
    }
    // Per anchor: the unrefitted threshold, the bits the calibration scores of its window's
    // tokens give there (the window's own level of that budget), and the shift of the threshold.
    std::vector<float> calibrated, shift(anchors.size(), 0.0f);
    std::vector<double> level;
    for (size_t a = 0; a < anchors.size(); ++a) {
        calibrated.push_back(keys.threshold_for_bits(anchors[a]));
        level.push_back(
            GlobalScoreKeys(subset(scores, tokens_of[a], rows), no_offsets).bits_at(calibrated[a]));
    }
    for (uint32_t r = 0; r < rounds; ++r) {
        runs.thresholds.clear();
        for (size_t a = 0; a < anchors.size(); ++a)
            runs.thresholds.emplace_back(scores.size(), calibrated[a] + shift[a]);
        const std::vector<Rows> routed = route(runs);
        if (routed.size() != scores.size())
            fail("the routed pass scored {} of {} linears", routed.size(), scores.size());
        RefitRound report;
        report.anchors = anchors;
        for (size_t a = 0; a < anchors.size(); ++a) {
            // The threshold at which the window's routed scores give its level: the scores the
            // routers see at run time, read at the quantile the calibration scores have there.
            const float refit = GlobalScoreKeys(subset(routed, tokens_of[a], {}), no_offsets)
                                    .threshold_for_bits(level[a]);
            const float used = calibrated[a] + shift[a];
            if (std::isfinite(refit)) shift[a] = refit - calibrated[a];
            // Routed scores ~ calibration scores + shift: the bits the threshold used gives.
            report.estimated_bits.push_back(keys.bits_at(used - shift[a]));
        }
        if (round) round(r, report);
    }

    rt::BudgetTable table;
    table.budgets = grid;
    float ceiling = std::numeric_limits<float>::infinity();  // thresholds fall as budgets rise
    for (float b : grid) {
        const float t = keys.threshold_for_bits(b);  // infinite at 2 and 8 bits: kept
        ceiling = std::min(ceiling, std::isfinite(t) ? t + shift_at(anchors, shift, b) : t);
        table.thresholds.insert(table.thresholds.end(), scores.size(), ceiling);
    }
    return table;
}

}  // namespace mq::calib
