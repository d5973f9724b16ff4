// Router pieces on their own: training learns a known target, the budget table meets its
// targets, the bit-specific baseline quantizer keeps its error bound.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

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

TEST_CASE("router training's gradient matches finite differences of the runtime's scores") {
    // The loss is computed through rt::Router::scores (the runtime's forward, on raw x), the
    // gradient by train_router's hand-written backward pass on the same features.
    const uint32_t n = 24, k = 8, hidden = 6, outputs = rt::kRouterOutputs;
    calib::Rows x(n, k), y(n, outputs);
    x.v = test::random_vector(x.v.size(), 5, 2.0f);
    y.v = test::random_vector(y.v.size(), 6);
    rt::Router r(k, hidden);
    r.w1 = test::random_vector(r.w1.size(), 7, 0.5f);
    r.wa = test::random_vector(r.wa.size(), 8, 0.5f);
    r.b1 = test::random_vector(r.b1.size(), 9, 0.5f);
    r.w2 = test::random_vector(r.w2.size(), 10, 0.5f);
    r.b2 = test::random_vector(r.b2.size(), 11, 0.5f);
    auto loss = [&](const rt::Router& router) {
        double sum = 0;
        for (uint32_t t = 0; t < n; ++t) {
            auto s = router.scores({x.row(t), k});
            for (uint32_t e = 0; e < outputs; ++e) sum += std::pow(s[e] - y.row(t)[e], 2);
        }
        return sum / (n * outputs);
    };
    std::vector<uint32_t> rows(n);
    for (uint32_t t = 0; t < n; ++t) rows[t] = t;
    calib::RouterGradient g(r);
    calib::router_mse_gradient(r, calib::router_features(x), y, rows, g);

    const float eps = 1e-3f;
    double worst = 0;
    uint32_t checked = 0;
    auto check_all = [&](std::vector<float> rt::Router::*weights,
                         const std::vector<float>& analytic) {
        for (size_t i = 0; i < analytic.size(); ++i) {
            rt::Router plus = r, minus = r;
            (plus.*weights)[i] += eps;
            (minus.*weights)[i] -= eps;
            const double numeric = (loss(plus) - loss(minus)) / (2.0 * eps);
            worst = std::max(worst, std::fabs(numeric - analytic[i]) / (1.0 + std::fabs(numeric)));
            ++checked;
        }
    };
    check_all(&rt::Router::w1, g.w1);
    check_all(&rt::Router::wa, g.wa);
    check_all(&rt::Router::b1, g.b1);
    check_all(&rt::Router::w2, g.w2);
    check_all(&rt::Router::b2, g.b2);
    MESSAGE("router gradient: worst error " << worst << " over " << checked << " weights");
    CHECK(checked == hidden * k + 2 * hidden + outputs * hidden + outputs);
    CHECK(worst < 1e-3);  // measured 7e-5 (fp32 scores, central differences)
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
