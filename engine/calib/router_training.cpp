#include "calib/router_training.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "calib/blas.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"

namespace mq::calib {

Rows depth_errors(const rt::LinearWeights& lin, const std::vector<std::vector<float>>& decoded,
                  const Rows& x) {
    Rows err(x.n, quant::kSlices);
    if (lin.dense.size() != size_t(lin.rows) * lin.cols || decoded.size() != quant::kSlices)
        fail("depth_errors: needs the dense weights and all {} depths", quant::kSlices);
    std::vector<float> diff(lin.dense.size());
    for (uint32_t k = 0; k < quant::kSlices; ++k) {
        const float* dk = decoded[k].data();
        parallel_for(diff.size(), [&](uint64_t i0, uint64_t i1) {
            for (uint64_t i = i0; i < i1; ++i) diff[i] = lin.dense[i] - dk[i];
        });
        Rows y = matmul_rows(x, diff, lin.rows);
        for (uint32_t t = 0; t < x.n; ++t) err.row(t)[k] = dot(y.row(t), y.row(t), y.width);
    }
    return err;
}

Rows gain_targets(const Rows& errors) {
    double mean1 = 0;
    for (uint32_t t = 0; t < errors.n; ++t) mean1 += errors.row(t)[0];
    mean1 /= std::max(1u, errors.n);
    const double floor = std::max(1e-30, 1e-7 * mean1);
    Rows y(errors.n, rt::kRouterOutputs);
    for (uint32_t t = 0; t < errors.n; ++t)
        for (uint32_t e = 0; e < rt::kRouterOutputs; ++e) {
            double gain = double(errors.row(t)[e]) - errors.row(t)[e + 1];
            y.row(t)[e] = static_cast<float>(std::log(std::max(gain, floor)));
        }
    return y;
}

RouterFeatures router_features(const Rows& x) {
    RouterFeatures f{Rows(x.n, x.width), std::vector<float>(x.n)};
    for (uint32_t t = 0; t < x.n; ++t) {
        float r2 = dot(x.row(t), x.row(t), x.width) / x.width + 1e-6f;
        float inv = 1.0f / std::sqrt(r2);
        for (uint32_t i = 0; i < x.width; ++i) f.u.row(t)[i] = x.row(t)[i] * inv;
        f.a[t] = std::log(r2);
    }
    return f;
}

RouterGradient::RouterGradient(const rt::Router& r)
    : w1(r.w1.size()), wa(r.wa.size()), b1(r.b1.size()), w2(r.w2.size()), b2(r.b2.size()) {}

void router_mse_gradient(const rt::Router& r, const RouterFeatures& f, const Rows& y,
                         std::span<const uint32_t> rows, RouterGradient& g) {
    const uint32_t K = r.in, H = r.hidden, O = rt::kRouterOutputs;
    const uint32_t nb = static_cast<uint32_t>(rows.size());
    for (auto* v : {&g.w1, &g.wa, &g.b1, &g.w2, &g.b2}) std::fill(v->begin(), v->end(), 0.0f);
    // The minibatch's features, hidden pre-activations and their gradients ([nb][K], [nb][H]):
    // the two K-wide products go through BLAS, the small H x 3 layer stays scalar.
    if (g.u.n < nb) g.u = Rows(nb, K), g.h = Rows(nb, H), g.dh = Rows(nb, H);
    for (uint32_t i = 0; i < nb; ++i) std::copy_n(f.u.row(rows[i]), K, g.u.row(i));
    gemm_nt(g.u.v.data(), r.w1.data(), g.h.v.data(), nb, H, K);
    const float scale = 2.0f / float(nb * O);  // d(mean squared error)
    for (uint32_t i = 0; i < nb; ++i) {
        const uint32_t t = rows[i];
        float* h = g.h.row(i);
        float* dh = g.dh.row(i);
        for (uint32_t j = 0; j < H; ++j) h[j] = std::max(0.0f, h[j] + r.wa[j] * f.a[t] + r.b1[j]);
        std::fill(dh, dh + H, 0.0f);
        for (uint32_t e = 0; e < O; ++e) {
            float s = r.b2[e];
            for (uint32_t j = 0; j < H; ++j) s += r.w2[e * H + j] * h[j];
            const float ds = scale * (s - y.row(t)[e]);
            g.b2[e] += ds;
            for (uint32_t j = 0; j < H; ++j) {
                g.w2[e * H + j] += ds * h[j];
                dh[j] += ds * r.w2[e * H + j];
            }
        }
        for (uint32_t j = 0; j < H; ++j) {
            if (h[j] <= 0.0f) dh[j] = 0.0f;
            g.b1[j] += dh[j];
            g.wa[j] += dh[j] * f.a[t];
        }
    }
    gemm_tn(g.dh.v.data(), g.u.v.data(), g.w1.data(), H, K, nb);  // dL/dw1 = dh^T u
}

namespace {

struct Adam {
    std::vector<float> m, v;
    explicit Adam(size_t n) : m(n), v(n) {}
    void step(std::vector<float>& p, const std::vector<float>& g, float lr, uint32_t t) {
        const float b1 = 0.9f, b2 = 0.999f;
        const float c1 = 1.0f - std::pow(b1, float(t)), c2 = 1.0f - std::pow(b2, float(t));
        for (size_t i = 0; i < p.size(); ++i) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-8f);
        }
    }
};

}  // namespace

RouterFit train_router(const Rows& x, const Rows& targets, const RouterTraining& o) {
    const uint32_t K = x.width, H = o.hidden, O = rt::kRouterOutputs, n = x.n;
    RouterFeatures f = router_features(x);
    // Standardize the scale feature and the targets; folded back into the weights at the end.
    double a_mean = 0, a_var = 0;
    for (float a : f.a) a_mean += a;
    a_mean /= n;
    for (float a : f.a) a_var += (a - a_mean) * (a - a_mean);
    const float a_std = static_cast<float>(std::sqrt(a_var / n) + 1e-3);
    for (float& a : f.a) a = static_cast<float>((a - a_mean) / a_std);
    std::array<double, 3> y_mean{}, y_std{};
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t e = 0; e < O; ++e) y_mean[e] += targets.row(t)[e];
    for (auto& m : y_mean) m /= n;
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t e = 0; e < O; ++e) y_std[e] += std::pow(targets.row(t)[e] - y_mean[e], 2);
    for (auto& s : y_std) s = std::sqrt(s / n) + 1e-3;
    Rows y(n, O);
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t e = 0; e < O; ++e)
            y.row(t)[e] = static_cast<float>((targets.row(t)[e] - y_mean[e]) / y_std[e]);

    std::mt19937 rng(o.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    rt::Router r(K, H);
    for (float& w : r.w1) w = normal(rng) / std::sqrt(float(K));
    for (float& w : r.wa) w = normal(rng) * 0.5f;
    for (float& w : r.b1) w = 0.1f;
    for (float& w : r.w2) w = normal(rng) / std::sqrt(float(H));

    Adam a1(r.w1.size()), aa(r.wa.size()), ab1(r.b1.size()), a2(r.w2.size()), ab2(r.b2.size());
    RouterGradient g(r);
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    uint32_t step = 0;
    const uint32_t total_steps = o.epochs * ((n + o.batch - 1) / o.batch);
    for (uint32_t epoch = 0; epoch < o.epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), rng);
        for (uint32_t b0 = 0; b0 < n; b0 += o.batch) {
            const uint32_t b1 = std::min(n, b0 + o.batch);
            router_mse_gradient(r, f, y, std::span(order).subspan(b0, b1 - b0), g);
            ++step;
            // Cosine decay to a tenth: large steps early, a settled fit at the end.
            const float lr = o.learning_rate *
                             (0.55f + 0.45f * std::cos(3.14159265f * float(step) / total_steps));
            a1.step(r.w1, g.w1, lr, step);
            aa.step(r.wa, g.wa, lr, step);
            ab1.step(r.b1, g.b1, lr, step);
            a2.step(r.w2, g.w2, lr, step);
            ab2.step(r.b2, g.b2, lr, step);
        }
    }
    // Fold the standardizations back: the stored router reads raw x and predicts raw log gains.
    for (uint32_t j = 0; j < H; ++j) {
        r.b1[j] -= r.wa[j] * static_cast<float>(a_mean) / a_std;
        r.wa[j] /= a_std;
    }
    for (uint32_t e = 0; e < O; ++e) {
        for (uint32_t j = 0; j < H; ++j) r.w2[e * H + j] *= static_cast<float>(y_std[e]);
        r.b2[e] = static_cast<float>(r.b2[e] * y_std[e] + y_mean[e]);
    }
    RouterFit fit{r, 0};
    Rows s = router_scores(r, x);
    double ss_res = 0, ss_tot = 0;
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t e = 0; e < O; ++e) {
            ss_res += std::pow(s.row(t)[e] - targets.row(t)[e], 2);
            ss_tot += std::pow(targets.row(t)[e] - y_mean[e], 2);
        }
    fit.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
    return fit;
}

Rows router_scores(const rt::Router& router, const Rows& x) {
    Rows s(x.n, rt::kRouterOutputs);
    parallel_for(x.n, [&](uint64_t t0, uint64_t t1) {
        for (uint64_t t = t0; t < t1; ++t) {
            auto v = router.scores({x.row(t), x.width});
            std::copy(v.begin(), v.end(), s.row(t));
        }
    });
    return s;
}

}  // namespace mq::calib
