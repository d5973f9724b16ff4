// Router pieces on their own: training learns a known target, the budget table meets its
// targets, the bit-specific baseline quantizer keeps its error bound.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "calib/budget_table_builder.hpp"
#include "calib/router_training.hpp"
#include "quant/rtn.hpp"
#include "support/test_data.hpp"

using namespace mq;

TEST_CASE("a router learns log gains that depend on the token's scale and direction") {
    // Gains of a known quadratic form: log((a.x)^2 + 0.1 |x|^2) - 2.8 e, as output errors are.
    const uint32_t n = 1024, k = 32;
    calib::Rows x(n, k), y(n, rt::kRouterOutputs);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    std::vector<float> a = test::random_vector(k, 9);
    for (uint32_t t = 0; t < n; ++t) {
        float scale = std::exp(normal(rng));
        double proj = 0, norm = 0;
        for (uint32_t i = 0; i < k; ++i) {
            x.row(t)[i] = scale * normal(rng);
            proj += a[i] * x.row(t)[i];
            norm += x.row(t)[i] * x.row(t)[i];
        }
        for (uint32_t e = 0; e < 3; ++e)
            y.row(t)[e] = static_cast<float>(std::log(proj * proj + 0.1 * norm) - 2.8 * e);
    }
    calib::RouterTraining o;
    o.hidden = 16;
    o.epochs = 80;
    calib::RouterFit fit = calib::train_router(x, y, o);
    CHECK(fit.r2 > 0.8);
    // The stored router reads raw x: its scores are the fitted targets.
    auto s = fit.router.scores({x.row(0), k});
    CHECK(std::abs(s[0] - y.row(0)[0]) < 1.5);
    CHECK(s[0] > s[1]);
    CHECK(s[1] > s[2]);
}

TEST_CASE("routed depth: nested masks, one more slice per score above the threshold") {
    CHECK(rt::routed_depth({1.0f, 0.5f, 0.2f}, 0.6f) == 2);
    CHECK(rt::routed_depth({1.0f, 0.5f, 0.2f}, 0.1f) == 4);
    CHECK(rt::routed_depth({1.0f, 0.5f, 0.2f}, 2.0f) == 1);
    // A later slice is never used without the earlier ones.
    CHECK(rt::routed_depth({0.0f, 5.0f, 5.0f}, 1.0f) == 1);
}

TEST_CASE("budget table: each linear meets every target on the calibration tokens") {
    std::vector<calib::Rows> scores;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal;
    for (uint32_t lin = 0; lin < 3; ++lin) {
        calib::Rows s(500, 3);
        for (uint32_t t = 0; t < s.n; ++t) {
            float base = normal(rng) + lin;
            for (uint32_t e = 0; e < 3; ++e) s.row(t)[e] = base - 2.8f * e + 0.3f * normal(rng);
        }
        scores.push_back(std::move(s));
    }
    rt::BudgetTable table = calib::build_budget_table(scores);
    REQUIRE(table.budgets.front() == doctest::Approx(2.0));
    REQUIRE(table.budgets.back() == doctest::Approx(8.0));
    for (float bits : {2.0f, 2.5f, 3.3f, 4.0f, 5.75f, 7.9f, 8.0f}) {
        auto thr = table.lookup(bits, 3);
        for (uint32_t lin = 0; lin < 3; ++lin) {
            double sum = 0;
            for (uint32_t t = 0; t < 500; ++t) {
                const float* r = scores[lin].row(t);
                sum += rt::routed_depth({r[0], r[1], r[2]}, thr[lin]);
            }
            CHECK(2.0 * sum / 500 == doctest::Approx(bits).epsilon(0.02));
        }
    }
    // Raising the budget never lowers a linear's depth: thresholds fall as bits rise.
    for (size_t b = 1; b < table.budgets.size(); ++b)
        for (uint32_t lin = 0; lin < 3; ++lin)
            CHECK(table.thresholds[b * 3 + lin] <= table.thresholds[(b - 1) * 3 + lin]);
}

TEST_CASE("bit-specific round-to-nearest: error within half a step, shrinking with bits") {
    const uint32_t rows = 8, cols = 300;  // a partial last group
    std::vector<float> w = test::random_vector(size_t(rows) * cols, 11);
    double prev = 1e30;
    for (uint32_t bits : {2u, 4u, 6u, 8u}) {
        std::vector<float> q = quant::rtn_quantize(w, rows, cols, bits, {}, 0);
        double err = 0;
        for (uint32_t r = 0; r < rows; ++r)
            for (uint32_t c0 = 0; c0 < cols; c0 += 128) {
                uint32_t n = std::min(128u, cols - c0);
                auto [mn, mx] = std::minmax_element(&w[r * cols + c0], &w[r * cols + c0] + n);
                float step = (std::max(*mx, 0.0f) - std::min(*mn, 0.0f)) / float((1u << bits) - 1);
                for (uint32_t i = 0; i < n; ++i) {
                    float d = std::abs(w[r * cols + c0 + i] - q[r * cols + c0 + i]);
                    CHECK(d <= step * 0.65f + 1e-6f);  // half a step, plus fp16 rounding of s and z
                    err += d * d;
                }
            }
        CHECK(err < prev);
        prev = err;
    }
}
