// Routed checkpoints at run time: the GPU routers choose what the CPU routers choose, the
// achieved bits follow the budget, routing beats random depths at equal bits, and the eval job
// produces the whole quality table.
#include <doctest/doctest.h>

#include <cmath>

#include "calib_fixture.hpp"
#include "eval/quality_eval.hpp"
#include "formats/model_loader.hpp"
#include "runtime/model_session.hpp"
#include "runtime/perplexity.hpp"
#include "runtime/reference_forward.hpp"
#include "runtime/router.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;

TEST_CASE_FIXTURE(VulkanFixture, "GPU routers choose the depths the CPU routers choose") {
    const auto& m = quantized_tiny_model();
    rt::ModelSession session(ctx, m.checkpoint);
    const rt::ModelWeights w = rt::ModelWeights::load(session.model());
    REQUIRE(w.routers);
    const uint32_t n_linears = w.desc.n_layers * rt::kLinearsPerLayer;
    std::vector<uint32_t> tokens = {1, 40, 71, 99, 120, 7, 250, 33, 64, 180, 12, 5};
    for (float bits : {3.0f, 5.5f}) {
        std::vector<float> thr = w.routers->table.lookup(bits, n_linears);
        std::vector<rt::TokenDepths> used;
        std::vector<float> logits = session.forward().forward_routed(tokens, 0, thr, true, &used);
        REQUIRE(used.size() == tokens.size());
        // The reference forward, fed the GPU's depths, sees the same inputs; its routers must
        // pick the same depths (up to scores within rounding of the threshold).
        rt::ReferenceForward ref(w, 64);
        uint32_t agree = 0, total = 0;
        for (uint32_t t = 0; t < tokens.size(); ++t) {
            std::vector<float> ref_logits = ref.step(tokens[t], t, used[t]);
            std::vector<float> gpu(logits.begin() + size_t(t) * w.desc.vocab_size,
                                   logits.begin() + size_t(t + 1) * w.desc.vocab_size);
            CHECK(relative_error(gpu, ref_logits) < 2e-3);
            for (uint32_t l = 0; l < w.desc.n_layers; ++l)
                for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
                    auto x = ref.last_linear_input(l, static_cast<rt::Linear>(j));
                    agree += rt::route_linear(*w.routers, l, static_cast<rt::Linear>(j), x, thr) ==
                             used[t][l][j];
                    ++total;
                }
        }
        CHECK(agree >= total * 98 / 100);
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "achieved bits follow the budget on text the routers never saw") {
    const auto& m = quantized_tiny_model();
    rt::ModelSession session(ctx, m.checkpoint);
    for (float bits : {2.0f, 3.0f, 5.0f, 7.0f, 8.0f}) {
        auto r = rt::perplexity(session, heldout_text(), rt::DepthPolicy::budget(bits));
        MESSAGE("budget " << bits << ": " << r.bits << " bits on " << r.tokens << " tokens");
        CHECK(std::fabs(r.bits - bits) <= 0.1);
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "eval prints every row of the quality table") {
    const auto& m = quantized_tiny_model();
    eval::EvalOptions o;
    o.model = m.checkpoint;  // the source model is found beside it
    o.text = heldout_text();
    o.text_name = "heldout";
    o.calibration_text = calibration_text();
    o.calibration_tokens = 256;
    o.budgets = {3.0, 6.5};
    eval::QualityTable t = eval::run_eval(ctx, o);
    CHECK(t.fp_ppl > 1.0);
    REQUIRE(t.uniform.size() == 4);
    REQUIRE(t.bit_specific.size() == 4);
    REQUIRE(t.routed.size() == 2);
    REQUIRE(t.random.size() == 2);
    REQUIRE(t.mix.size() == 2);
    for (size_t i = 0; i < 4; ++i) CHECK(t.uniform[i].bits == doctest::Approx(2.0 * (i + 1)));
    // Depth 4 and 8-bit round-to-nearest are close to full precision on any model.
    CHECK(t.uniform[3].ppl == doctest::Approx(t.fp_ppl).epsilon(0.01));
    CHECK(t.bit_specific[3].ppl == doctest::Approx(t.fp_ppl).epsilon(0.01));
    for (size_t i = 0; i < 2; ++i) {
        CHECK(t.routed[i].budget == doctest::Approx(o.budgets[i]));
        // The controls run at the routed bits.
        CHECK(t.random[i].bits == doctest::Approx(t.routed[i].bits).epsilon(0.05));
        CHECK(t.mix[i].bits == doctest::Approx(t.routed[i].bits).epsilon(0.05));
        // The paired standard error of routed minus each control is measured (the depths differ,
        // so the per-token losses do) and small next to the perplexity itself.
        for (const auto* c : {&t.random[i], &t.mix[i]}) {
            CHECK(c->se_vs_routed > 0);
            CHECK(c->se_vs_routed < 0.1 * t.routed[i].ppl);
            CHECK(c->kl_se_vs_routed > 0);
        }
    }
    // KL from full precision: measured for every row, and each slice brings the distributions
    // closer to full precision's (8 bits still not exactly: the weights are quantized).
    for (size_t i = 0; i < 4; ++i) {
        CHECK(t.uniform[i].kl > 0);
        if (i > 0) CHECK(t.uniform[i].kl < t.uniform[i - 1].kl);
        CHECK(t.bit_specific[i].kl > 0);
    }
    CHECK(t.uniform[3].kl < 1e-3);
    CHECK(t.routed[0].kl > t.routed[1].kl);
    // The JSON the app and --json read has the keys, and reads back the same.
    auto j = t.to_json();
    for (const char* key : {"fp_ppl", "uniform", "bit_specific", "routed", "random", "mix"})
        CHECK(j.contains(key));
    CHECK(eval::QualityTable::from_json(j).routed[1].ppl == doctest::Approx(t.routed[1].ppl));
    CHECK(eval::QualityTable::from_json(j).random[1].se_vs_routed ==
          doctest::Approx(t.random[1].se_vs_routed));
    CHECK(eval::QualityTable::from_json(j).mix[0].kl == doctest::Approx(t.mix[0].kl));
    CHECK(eval::QualityTable::from_json(j).mix[0].kl_se_vs_routed ==
          doctest::Approx(t.mix[0].kl_se_vs_routed));
}
