// The threshold refit: the routed pass sees what the reference forward sees at the depths it
// chose, and the refit removes a measured shift of the routers' scores from the budget table.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "calib/budget_table_builder.hpp"
#include "calib/routed_pass.hpp"
#include "calib/threshold_refit.hpp"
#include "calib_fixture.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/reference_forward.hpp"

using namespace mq;
using namespace mq::test;

TEST_CASE("routed pass: each linear scores the input the reference forward gives it") {
    const auto& m = quantized_tiny_model();
    LoadedModel ckpt = LoadedModel::open(m.checkpoint);
    const rt::ModelWeights w = rt::ModelWeights::load(ckpt);
    REQUIRE(w.routers);
    const uint32_t n_linears = w.desc.n_layers * rt::kLinearsPerLayer, window = 12;
    // Two sequences, routed at 3 and at 6 bits.
    const std::vector<uint32_t> tokens = {1, 40, 71, 99, 120, 7, 250, 33, 64,  180, 12, 5,
                                          1, 17, 88, 3,  201, 9, 77,  46, 130, 2,   61, 95};
    calib::RoutedRuns runs;
    for (float bits : {3.0f, 6.0f})
        runs.thresholds.push_back(w.routers->table.lookup(bits, n_linears));
    for (uint32_t t = 0; t < tokens.size(); ++t) runs.run_of_token.push_back(t / window);
    const std::vector<calib::Rows> scores = calib::routed_scores(
        calib::WeightSource::of(w), w.routers->routers, calib::embed_rows(w, tokens), window, runs);
    REQUIRE(scores.size() == n_linears);

    // The reference forward, given the depths the pass chose, must see inputs on which the
    // routers give the pass's scores.
    rt::ReferenceForward ref(w, window);
    float worst = 0;
    uint32_t depth_changes = 0;
    for (uint32_t t = 0; t < tokens.size(); ++t) {
        if (t % window == 0) ref.reset();
        const std::vector<float>& thr = runs.thresholds[runs.run_of_token[t]];
        rt::TokenDepths depths(w.desc.n_layers);
        for (uint32_t l = 0; l < w.desc.n_layers; ++l)
            for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
                const float* s = scores[l * rt::kLinearsPerLayer + j].row(t);
                depths[l][j] =
                    rt::routed_depth({s[0], s[1], s[2]}, thr[l * rt::kLinearsPerLayer + j]);
                depth_changes += depths[l][j] != depths[0][0];
            }
        ref.step(tokens[t], t % window, depths);
        for (uint32_t l = 0; l < w.desc.n_layers; ++l)
            for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
                const auto lin = static_cast<rt::Linear>(j);
                const auto expected = w.routers->at(l, lin).scores(ref.last_linear_input(l, lin));
                const float* got = scores[l * rt::kLinearsPerLayer + j].row(t);
                for (uint32_t e = 0; e < rt::kRouterOutputs; ++e)
                    worst = std::max(worst, std::abs(got[e] - expected[e]));
            }
    }
    MESSAGE("routed pass against the reference forward: worst score difference " << worst);
    CHECK(depth_changes > 0);  // the routers chose different depths, not one depth everywhere
    CHECK(worst < 1e-3f);
}

namespace {
// Synthetic router scores of `linears` linears on `n` tokens: a per-token level plus falling
// slice scores (as real routers give), different per linear.
std::vector<calib::Rows> synthetic_scores(uint32_t linears, uint32_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<calib::Rows> scores;
    for (uint32_t i = 0; i < linears; ++i) {
        calib::Rows s(n, rt::kRouterOutputs);
        for (uint32_t t = 0; t < n; ++t) {
            const float base = normal(rng) + 0.3f * float(i);
            for (uint32_t e = 0; e < rt::kRouterOutputs; ++e)
                s.row(t)[e] = base - 2.0f * float(e) + 0.4f * normal(rng);
        }
        scores.push_back(std::move(s));
    }
    return scores;
}

// Mean bits of every linear's scores (each shifted by `shift`) over all tokens at a table's
// thresholds for `bits`.
double achieved_bits(const std::vector<calib::Rows>& scores, const rt::BudgetTable& table,
                     float bits, float shift) {
    const std::vector<float> thr = table.lookup(bits, static_cast<uint32_t>(scores.size()));
    uint64_t depth = 0, count = 0;
    for (size_t i = 0; i < scores.size(); ++i)
        for (uint32_t t = 0; t < scores[i].n; ++t) {
            const float* r = scores[i].row(t);
            depth += rt::routed_depth({r[0] + shift, r[1] + shift, r[2] + shift}, thr[i]);
            ++count;
        }
    return 2.0 * double(depth) / double(count);
}
}  // namespace

TEST_CASE("threshold refit: a shift routing gives the scores is measured and removed") {
    // 16 calibration sequences of 64 tokens; the refit routes the first 32 of 8 of them.
    const uint32_t linears = 6, seq_len = 64, window = 32, windows = 8;
    const std::vector<calib::Rows> scores = synthetic_scores(linears, 16 * seq_len, 3);
    std::vector<uint32_t> rows;
    for (uint32_t s = 0; s < windows; ++s)
        for (uint32_t p = 0; p < window; ++p) rows.push_back(s * seq_len + p);
    const rt::BudgetTable table =
        calib::build_global_budget_table(scores, std::vector<float>(linears, 0.0f));

    // "Routing" raises every score by 0.5: the table then gives more bits than asked.
    const float shift = 0.5f;
    uint32_t calls = 0;
    auto route = [&](const calib::RoutedRuns& runs) {
        ++calls;
        REQUIRE(runs.thresholds.size() == windows);
        REQUIRE(runs.run_of_token.size() == rows.size());
        for (uint32_t t = 0; t < rows.size(); ++t) CHECK(runs.run_of_token[t] == t / window);
        std::vector<calib::Rows> routed;
        for (const calib::Rows& s : scores) {
            calib::Rows r(static_cast<uint32_t>(rows.size()), rt::kRouterOutputs);
            for (uint32_t t = 0; t < r.n; ++t)
                for (uint32_t e = 0; e < rt::kRouterOutputs; ++e)
                    r.row(t)[e] = s.row(rows[t])[e] + shift;
            routed.push_back(std::move(r));
        }
        return routed;
    };
    std::vector<calib::RefitRound> rounds;
    const rt::BudgetTable refit = calib::refit_global_table(
        scores, rows, window, table.budgets, 2, route,
        [&](uint32_t, const calib::RefitRound& r) { rounds.push_back(r); });
    CHECK(calls == 2);
    REQUIRE(rounds.size() == 2);
    CHECK(rounds[0].anchors == calib::refit_anchors(windows));
    MESSAGE("estimated worst miss before round 1: "
            << rounds[0].worst_miss() << ", before round 2: " << rounds[1].worst_miss());
    CHECK(rounds[0].worst_miss() > 0.2);  // the shift is there before the refit
    CHECK(rounds[1].worst_miss() < 0.02);

    double before = 0, after = 0;
    for (float bits = 2.25f; bits < 7.9f; bits += 0.25f) {
        before = std::max(before, std::abs(achieved_bits(scores, table, bits, shift) - bits));
        after = std::max(after, std::abs(achieved_bits(scores, refit, bits, shift) - bits));
    }
    MESSAGE("worst miss of the shifted scores: " << before << " before the refit, " << after
                                                 << " after");
    CHECK(before > 0.2);
    CHECK(after < 0.02);
    // The ends stay exact and the thresholds still fall as the budget rises.
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(refit.thresholds.front() == inf);
    CHECK(refit.thresholds.back() == -inf);
    for (size_t b = 1; b < refit.budgets.size(); ++b)
        CHECK(refit.thresholds[b * linears] <= refit.thresholds[(b - 1) * linears]);
}

TEST_CASE("threshold refit refuses tokens that do not fill its windows") {
    const std::vector<calib::Rows> scores = synthetic_scores(2, 64, 1);
    const std::vector<float> grid = {2.0f, 5.0f, 8.0f};
    auto route = [](const calib::RoutedRuns&) { return std::vector<calib::Rows>{}; };
    CHECK_THROWS_AS(calib::refit_global_table(scores, {0, 1, 2}, 2, grid, 1, route), mq::Error);
    CHECK_THROWS_AS(calib::refit_global_table(scores, {0, 1, 200, 201}, 2, grid, 1, route),
                    mq::Error);
    CHECK_THROWS_AS(calib::refit_global_table(scores, {0, 1}, 2, grid, 0, route), mq::Error);
    // A route function that scores the wrong number of linears.
    CHECK_THROWS_AS(calib::refit_global_table(scores, {0, 1}, 2, grid, 1, route), mq::Error);
}
