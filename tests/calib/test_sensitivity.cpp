// Making router scores comparable across linears: the loss sensitivities that put every linear's
// output error in loss units, and the budget table with one global threshold on them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calib/budget_table_builder.hpp"
#include "calib/linear_sensitivity.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "support/tiny_model.hpp"

using namespace mq;

namespace {

std::vector<calib::Rows> toy_scores(uint32_t linears, uint32_t n, uint32_t seed) {
    std::vector<calib::Rows> scores;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    for (uint32_t lin = 0; lin < linears; ++lin) {
        calib::Rows s(n, 3);
        for (uint32_t t = 0; t < s.n; ++t) {
            float base = normal(rng);
            for (uint32_t e = 0; e < 3; ++e) s.row(t)[e] = base - 2.8f * e + 0.3f * normal(rng);
        }
        scores.push_back(std::move(s));
    }
    return scores;
}

std::vector<uint32_t> sample_from(const rt::ModelWeights& w, uint32_t seq_len, uint32_t sequences,
                                  uint32_t seed) {
    std::vector<uint32_t> tokens(size_t(seq_len) * sequences, 1);  // BOS, then filled in
    std::mt19937 rng(seed);
    const std::vector<std::vector<float>> none;
    for (uint32_t pos = 1; pos < seq_len; ++pos) {
        calib::Rows x = calib::embed_rows(w, tokens);
        for (uint32_t l = 0; l < w.layers.size(); ++l)
            calib::layer_pass(w, l, x, seq_len,
                              [&](uint32_t layer, rt::Linear j, const calib::Rows& in) {
                                  return calib::linear_rows(w.layers[layer][j], none, in, {});
                              });
        calib::Rows h = calib::rmsnorm_rows(x, w.output_norm, w.desc.rms_eps);
        calib::Rows logits = calib::matmul_rows(h, w.output_weights(), w.desc.vocab_size);
        for (uint32_t s = 0; s < sequences; ++s) {
            const float* z = logits.row(s * seq_len + pos - 1);
            std::vector<double> p(z, z + w.desc.vocab_size);
            for (double& v : p) v = std::exp(v - *std::max_element(z, z + w.desc.vocab_size));
            tokens[size_t(s) * seq_len + pos] = static_cast<uint32_t>(
                std::discrete_distribution<uint32_t>(p.begin(), p.end())(rng));
        }
    }
    return tokens;
}

double mean_depth(const calib::Rows& s, float threshold) {
    double sum = 0;
    for (uint32_t t = 0; t < s.n; ++t)
        sum += rt::routed_depth({s.row(t)[0], s.row(t)[1], s.row(t)[2]}, threshold);
    return sum / s.n;
}

}  // namespace

TEST_CASE("global budget table: the average over all linears meets every target") {
    // Same score distributions, but linear 2's errors cost 20x more loss than linear 0's.
    auto scores = toy_scores(3, 400, 7);
    const std::vector<float> offsets = {0.0f, 1.0f, std::log(20.0f)};
    rt::BudgetTable table = calib::build_global_budget_table(scores, offsets);
    REQUIRE(table.budgets.front() == doctest::Approx(2.0));
    REQUIRE(table.budgets.back() == doctest::Approx(8.0));
    for (float bits : {2.0f, 2.5f, 3.0f, 4.35f, 6.5f, 7.0f, 7.5f, 8.0f}) {
        auto thr = table.lookup(bits, 3);
        double depth[3];
        for (uint32_t lin = 0; lin < 3; ++lin) depth[lin] = mean_depth(scores[lin], thr[lin]);
        CHECK(2.0 * (depth[0] + depth[1] + depth[2]) / 3 == doctest::Approx(bits).epsilon(0.01));
        // Slices go where they buy the most loss: the most sensitive linear first.
        if (bits > 2.0f && bits < 8.0f) {
            CHECK(depth[2] >= depth[1]);
            CHECK(depth[1] >= depth[0]);
            CHECK(depth[2] > depth[0]);
        }
    }
    // Raising the budget never lowers a linear's depth.
    for (size_t b = 1; b < table.budgets.size(); ++b)
        for (uint32_t lin = 0; lin < 3; ++lin)
            CHECK(table.thresholds[b * 3 + lin] <= table.thresholds[(b - 1) * 3 + lin]);
    CHECK_THROWS_AS(calib::build_global_budget_table(scores, std::vector<float>{0.0f}), Error);
}

TEST_CASE("global budget table with equal offsets on equal linears gives each the target") {
    auto scores = toy_scores(2, 2000, 9);
    rt::BudgetTable table = calib::build_global_budget_table(scores, std::vector<float>{0, 0});
    for (float bits : {3.0f, 5.0f, 7.0f}) {
        auto thr = table.lookup(bits, 2);
        for (uint32_t lin = 0; lin < 2; ++lin)
            CHECK(2.0 * mean_depth(scores[lin], thr[lin]) == doctest::Approx(bits).epsilon(0.04));
    }
}

TEST_CASE("loss sensitivities are finite and do not depend on a linear's output units") {
    auto dir = std::filesystem::temp_directory_path() / "mq_test_sensitivity";
    auto path = test::write_tiny_model({}, dir);
    auto model = LoadedModel::open(path);
    rt::ModelWeights w = rt::ModelWeights::load(model);
    // Text the model itself would write (sampled from it): a model is then at the minimum of its
    // expected loss, so the loss curves upwards along every weight error, as a trained model's
    // does on real text.
    const uint32_t seq_len = 32, sequences = 4;
    std::vector<uint32_t> tokens = sample_from(w, seq_len, sequences, 4);
    quant::SliceOptions so;
    so.clip_steps = 0;  // min/max scales: slicing 2W gives exactly twice the slices of W
    rt::ModelWeights a = w;
    a.slice_all(so);
    std::vector<float> off = calib::linear_log_sensitivities(a, tokens, seq_len);
    REQUIRE(off.size() == w.layers.size() * rt::kLinearsPerLayer);
    for (float v : off) CHECK(std::isfinite(v));

    // The same function with layer 0's v outputs in units twice as large (o reads them at half
    // scale): v's output errors are 4x larger for the same loss, so its offset is log 4 lower
    // and its adjusted scores (log error + offset) stay put; every other linear is unchanged.
    rt::ModelWeights b = w;
    for (float& v : b.layers[0][rt::Linear::V].dense) v *= 2.0f;
    for (float& v : b.layers[0][rt::Linear::O].dense) v *= 0.5f;
    b.slice_all(so);
    std::vector<float> off_b = calib::linear_log_sensitivities(b, tokens, seq_len);
    const uint32_t v0 = static_cast<uint32_t>(rt::Linear::V);
    for (size_t i = 0; i < off.size(); ++i)
        CHECK(off_b[i] ==
              doctest::Approx(i == v0 ? off[i] - std::log(4.0f) : off[i]).epsilon(1e-3));
}
