// Making router scores comparable across linears: the loss sensitivities that put every linear's
// output error in loss units, and the budget table with one global threshold on them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calib/budget_table_builder.hpp"
#include "calib/fisher_sensitivity.hpp"
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

namespace {

calib::Rows dense_forward(const rt::ModelWeights& w, std::span<const uint32_t> tokens,
                          uint32_t seq_len) {
    const std::vector<std::vector<float>> none;
    calib::Rows x = calib::embed_rows(w, tokens);
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        calib::layer_pass(w, l, x, seq_len,
                          [&](uint32_t layer, rt::Linear j, const calib::Rows& in) {
                              return calib::linear_rows(w.layers[layer][j], none, in, {});
                          });
    return x;
}

// Sum over positions of the next token's NLL (each sequence's last position has none).
double total_nll(const rt::ModelWeights& w, std::span<const uint32_t> tokens, uint32_t seq_len) {
    const double positions = double(tokens.size() - tokens.size() / seq_len);
    return positions *
           calib::mean_next_token_nll(w, dense_forward(w, tokens, seq_len), tokens, seq_len);
}

}  // namespace

TEST_CASE("backward pass: every linear's weight gradient matches central differences") {
    auto dir = std::filesystem::temp_directory_path() / "mq_test_backward";
    test::TinyModelSpec llama, qwen;
    qwen.arch = "qwen2";  // half-split RoPE, q/k/v biases, untied head
    qwen.tied = false;
    qwen.qkv_bias = true;
    for (const auto& spec : {llama, qwen}) {
        CAPTURE(spec.arch);
        auto model = LoadedModel::open(test::write_tiny_model(spec, dir));
        rt::ModelWeights w = rt::ModelWeights::load(model);
        const uint32_t seq_len = 16;
        std::vector<uint32_t> tokens = sample_from(w, seq_len, 3, 11);
        // dL/dW = sum_t g_t x_t^T for the total NLL.
        const size_t n_linears = w.layers.size() * rt::kLinearsPerLayer;
        std::vector<std::vector<double>> grad_w(n_linears);
        const std::vector<calib::LogitGradientFn> nll = {[&](uint32_t t, std::span<float> p) {
            if (t % seq_len == seq_len - 1)
                std::fill(p.begin(), p.end(), 0.0f);
            else
                p[tokens[t + 1]] -= 1.0f;
        }};
        calib::model_backward(
            calib::WeightSource::of(w), tokens, seq_len, nll,
            [&](uint32_t l, uint32_t, rt::Linear j, const calib::Rows& x, const calib::Rows& g,
                const calib::Rows&) {
                auto& gw = grad_w[l * rt::kLinearsPerLayer + static_cast<uint32_t>(j)];
                gw.assign(size_t(g.width) * x.width, 0.0);
                for (uint32_t t = 0; t < x.n; ++t)
                    for (uint32_t r = 0; r < g.width; ++r)
                        for (uint32_t c = 0; c < x.width; ++c)
                            gw[size_t(r) * x.width + c] += double(g.row(t)[r]) * x.row(t)[c];
            });
        std::mt19937 rng(5);
        std::normal_distribution<float> normal;
        double worst = 0;
        for (uint32_t l = 0; l < w.layers.size(); ++l)
            for (uint32_t jj = 0; jj < rt::kLinearsPerLayer; ++jj) {
                const rt::Linear j = static_cast<rt::Linear>(jj);
                CAPTURE(l);
                CAPTURE(rt::linear_name(j));
                const rt::LinearWeights& lin = w.layers[l][j];
                // A random direction with the weights' own scale.
                std::vector<float> dir_w(lin.dense.size());
                for (float& v : dir_w) v = normal(rng) / std::sqrt(float(lin.cols));
                double analytic = 0;
                for (size_t i = 0; i < dir_w.size(); ++i)
                    analytic += grad_w[l * rt::kLinearsPerLayer + jj][i] * dir_w[i];
                const float h = 1e-2f;
                rt::ModelWeights plus = w, minus = w;
                for (size_t i = 0; i < dir_w.size(); ++i) {
                    plus.layers[l][j].dense[i] += h * dir_w[i];
                    minus.layers[l][j].dense[i] -= h * dir_w[i];
                }
                const double numeric =
                    (total_nll(plus, tokens, seq_len) - total_nll(minus, tokens, seq_len)) /
                    (2 * h);
                const double rel = std::abs(analytic - numeric) / std::max(std::abs(numeric), 1.0);
                worst = std::max(worst, rel);
                CHECK(rel < 2e-3);
            }
        MESSAGE(spec.arch << ": worst relative error of dL/dW along a random direction " << worst);
    }
}

namespace {

// The reference the Fisher estimate replaces: for each linear, the symmetric difference
// (L(W + D) + L(W - D)) / 2 - L(W) of the calibration NLL along its depth-k quantization error D,
// re-running the rest of the model twice per linear (O(layers^2) forwards), over the same
// weighted output error E; returns log(C / E) per linear.
std::vector<float> probe_log_sensitivities(const rt::ModelWeights& w,
                                           std::span<const uint32_t> tokens, uint32_t seq_len,
                                           uint32_t depth) {
    const uint32_t n_layers = static_cast<uint32_t>(w.layers.size());
    const std::vector<std::vector<float>> none;
    auto dense = [&](uint32_t l, rt::Linear j, const calib::Rows& in) {
        return calib::linear_rows(w.layers[l][j], none, in, {});
    };
    std::vector<calib::Rows> layer_inputs(n_layers);
    calib::Rows x = calib::embed_rows(w, tokens);
    for (uint32_t l = 0; l < n_layers; ++l) {
        layer_inputs[l] = x;
        calib::layer_pass(w, l, x, seq_len, dense);
    }
    const double base = calib::mean_next_token_nll(w, x, tokens, seq_len);
    std::vector<float> out;
    for (uint32_t l = 0; l < n_layers; ++l)
        for (uint32_t jj = 0; jj < rt::kLinearsPerLayer; ++jj) {
            const rt::Linear j = static_cast<rt::Linear>(jj);
            const rt::LinearWeights& lin = w.layers[l][j];
            rt::LinearWeights minus = lin, plus = lin;
            minus.dense = lin.sliced->dequantize(depth);
            for (size_t i = 0; i < plus.dense.size(); ++i)
                plus.dense[i] = 2.0f * lin.dense[i] - minus.dense[i];
            double loss_sum = 0, err = 0;
            for (const rt::LinearWeights* probe : {&minus, &plus}) {
                calib::Rows y = layer_inputs[l];
                for (uint32_t l2 = l; l2 < n_layers; ++l2)
                    calib::layer_pass(
                        w, l2, y, seq_len,
                        [&](uint32_t layer, rt::Linear k, const calib::Rows& in) {
                            if (layer != l || k != j) return dense(layer, k, in);
                            calib::Rows got = calib::linear_rows(*probe, none, in, {});
                            if (probe == &minus) {
                                std::vector<float> tw = calib::weights_errors_by_residual(j)
                                                            ? calib::residual_error_weights(y)
                                                            : std::vector<float>(in.n, 1.0f);
                                calib::Rows ref = dense(layer, k, in);
                                for (uint32_t t = 0; t < in.n; ++t)
                                    for (uint32_t r = 0; r < got.width; ++r) {
                                        double d = double(got.row(t)[r]) - ref.row(t)[r];
                                        err += tw[t] * d * d;
                                    }
                            }
                            return got;
                        });
                loss_sum += calib::mean_next_token_nll(w, y, tokens, seq_len);
            }
            const double curvature = 0.5 * loss_sum - base;
            REQUIRE(curvature > 0);
            out.push_back(static_cast<float>(std::log(curvature / (err / tokens.size()))));
        }
    return out;
}

// Spearman's rank correlation (no ties expected).
double rank_correlation(std::span<const float> a, std::span<const float> b) {
    auto ranks = [](std::span<const float> v) {
        std::vector<size_t> order(v.size());
        for (size_t i = 0; i < v.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
        std::vector<double> r(v.size());
        for (size_t i = 0; i < order.size(); ++i) r[order[i]] = double(i);
        return r;
    };
    const auto ra = ranks(a), rb = ranks(b);
    const double n = double(a.size());
    double d2 = 0;
    for (size_t i = 0; i < ra.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
    return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

struct SlicedTiny {
    rt::ModelWeights dense, w;  // before and after slicing
    std::vector<uint32_t> tokens;
    uint32_t seq_len = 32;
};

SlicedTiny sliced_tiny(uint32_t layers) {
    auto dir = std::filesystem::temp_directory_path() / "mq_test_sensitivity";
    test::TinyModelSpec spec;
    spec.n_layers = layers;
    SlicedTiny s;
    s.dense = rt::ModelWeights::load(LoadedModel::open(test::write_tiny_model(spec, dir)));
    s.tokens = sample_from(s.dense, s.seq_len, 4, 4);
    s.w = s.dense;
    quant::SliceOptions so;
    so.clip_steps = 0;
    s.w.slice_all(so);
    return s;
}

}  // namespace

TEST_CASE("Fisher sensitivities rank the linears as the loss probes do") {
    SlicedTiny s = sliced_tiny(3);
    const std::vector<float> old_offsets = probe_log_sensitivities(s.w, s.tokens, s.seq_len, 2);
    calib::FisherOptions fo;
    fo.depths = {2};
    fo.samples = 8;
    for (auto target : {calib::CurvatureTarget::ModelFisher, calib::CurvatureTarget::DataNll}) {
        fo.target = target;
        auto stats =
            calib::linear_curvatures(calib::WeightSource::of(s.w), s.tokens, s.seq_len, fo);
        REQUIRE(stats.size() == 1);
        REQUIRE(stats[0].size() == old_offsets.size());
        for (auto form : {calib::CurvatureForm::PerToken, calib::CurvatureForm::PerSequence,
                          calib::CurvatureForm::Diagonal}) {
            std::vector<float> off = calib::log_sensitivities(stats[0], form);
            double rho = rank_correlation(old_offsets, off);
            double mean_diff = 0;
            for (size_t i = 0; i < off.size(); ++i) mean_diff += off[i] - old_offsets[i];
            mean_diff /= off.size();
            double spread = 0;
            for (size_t i = 0; i < off.size(); ++i)
                spread = std::max(spread, std::abs(off[i] - old_offsets[i] - mean_diff));
            MESSAGE("target " << int(target) << " form " << int(form) << ": rank correlation "
                              << rho << ", mean log ratio " << mean_diff << ", largest deviation "
                              << spread);
            if (target == calib::CurvatureTarget::ModelFisher &&
                form == calib::CurvatureForm::Diagonal) {
                // Measured: 0.95 and -0.30 (the probes' curvature includes the products of
                // different tokens' errors and the data NLL's residual term).
                CHECK(rho > 0.85);
                CHECK(std::abs(mean_diff) < 0.6);
            }
        }
    }
}

TEST_CASE("Fisher sensitivities do not depend on a linear's output units") {
    SlicedTiny a = sliced_tiny(2);
    // Layer 0's v in units twice as large, o reading them at half scale: v's offset drops by
    // log 4, the others stay (same draws, same model function).
    rt::ModelWeights b = a.dense;
    for (float& v : b.layers[0][rt::Linear::V].dense) v *= 2.0f;
    for (float& v : b.layers[0][rt::Linear::O].dense) v *= 0.5f;
    quant::SliceOptions so;
    so.clip_steps = 0;
    b.slice_all(so);
    calib::FisherOptions fo;
    auto sa = calib::linear_curvatures(calib::WeightSource::of(a.w), a.tokens, a.seq_len, fo);
    auto sb = calib::linear_curvatures(calib::WeightSource::of(b), a.tokens, a.seq_len, fo);
    const std::vector<float> off = calib::log_sensitivities(sa[0]),
                             off_b = calib::log_sensitivities(sb[0]);
    const uint32_t v0 = static_cast<uint32_t>(rt::Linear::V);
    for (size_t i = 0; i < off.size(); ++i)
        CHECK(off_b[i] ==
              doctest::Approx(i == v0 ? off[i] - std::log(4.0f) : off[i]).epsilon(1e-3));
}

TEST_CASE("Fisher sensitivities: progress, cancel and bad input") {
    SlicedTiny s = sliced_tiny(2);
    const calib::WeightSource src = calib::WeightSource::of(s.w);
    calib::FisherOptions fo;
    fo.depths = {1, 3};
    std::vector<uint32_t> seen;
    auto stats =
        calib::linear_curvatures(src, s.tokens, s.seq_len, fo, [&](uint32_t i, uint32_t total) {
            CHECK(total == 5);  // 2 forwards, head, 2 backwards
            seen.push_back(i);
        });
    CHECK(seen == std::vector<uint32_t>{0, 1, 2, 3, 4});
    REQUIRE(stats.size() == 2);
    // A deeper slice leaves a smaller error.
    for (size_t i = 0; i < stats[0].size(); ++i) CHECK(stats[1][i].error < stats[0][i].error);

    struct Cancelled {};
    uint32_t calls = 0;
    CHECK_THROWS_AS(calib::linear_curvatures(src, s.tokens, s.seq_len, fo,
                                             [&](uint32_t i, uint32_t) {
                                                 ++calls;
                                                 if (i == 3) throw Cancelled{};
                                             }),
                    Cancelled);
    CHECK(calls == 4);

    fo.depths = {5};
    CHECK_THROWS_AS(calib::linear_curvatures(src, s.tokens, s.seq_len, fo), Error);
    fo.depths = {2};
    CHECK_THROWS_AS(calib::linear_curvatures(src, std::span(s.tokens).first(40), s.seq_len, fo),
                    Error);
    CHECK_THROWS_AS(
        calib::linear_curvatures(calib::WeightSource::of(s.dense), s.tokens, s.seq_len, fo), Error);
}

TEST_CASE("output head backward is the same in chunks") {
    SlicedTiny s = sliced_tiny(1);
    const calib::WeightSource src = calib::WeightSource::of(s.w);
    calib::Rows x = dense_forward(s.w, s.tokens, s.seq_len);
    auto grad = [&](uint32_t t, std::span<float> p) { p[(t * 7) % p.size()] -= 1.0f; };
    calib::Rows whole = calib::head_backward(src, x, grad);
    // 300 logits of 4 bytes: 5 rows per chunk, the last chunk ragged.
    calib::Rows chunked = calib::head_backward(src, x, grad, 5 * 300 * 4);
    REQUIRE(whole.v.size() == chunked.v.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < whole.v.size(); ++i) {
        worst = std::max(worst, double(std::abs(chunked.v[i] - whole.v[i])));
        scale = std::max(scale, double(std::abs(whole.v[i])));
    }
    CHECK(worst <= 1e-5 * scale);
}
