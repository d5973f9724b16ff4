#pragma once
// Training a router MLP (runtime/router.hpp) on one linear's calibration tokens: regression of
// the log output-error gain of each residual slice (docs/design.md section 2, step 4), full-batch
// features and targets standardized, minibatch Adam, hand-written gradients.
#include <cstdint>
#include <span>
#include <vector>

#include "calib/rows.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

// Per token, the squared output error of the linear at every depth: err[t][k-1] =
// ||x_t (W - W(k))^T||^2, k = 1..4. W is the dense weight, decoded holds W(1)..W(4).
Rows depth_errors(const rt::LinearWeights& lin, const std::vector<std::vector<float>>& decoded,
                  const Rows& x);

// The router's regression targets from depth_errors: [t][e-2] = log(err(e-1) - err(e)) with
// the gain floored at a tiny fraction of the mean depth-1 error (a slice that does not help).
Rows gain_targets(const Rows& errors);

struct RouterTraining {
    uint32_t hidden = 16;
    uint32_t epochs = 60;
    uint32_t batch = 128;
    float learning_rate = 3e-3f;
    uint32_t seed = 1;
};

struct RouterFit {
    rt::Router router;
    double r2 = 0;  // variance of the targets explained on the training tokens (all outputs)
};

RouterFit train_router(const Rows& x, const Rows& targets, const RouterTraining& options);

// The router's inputs as the runtime computes them (runtime/router.hpp): u = x / r, a = log(r^2).
struct RouterFeatures {
    Rows u;
    std::vector<float> a;
};
RouterFeatures router_features(const Rows& x);

// Gradient of the mean squared error between a router's scores and y over `rows`, with respect
// to each of its weights (train_router's hand-written backward pass).
struct RouterGradient {
    std::vector<float> w1, wa, b1, w2, b2;  // shapes of the router's weights
    Rows u, h, dh;                          // minibatch workspace, reused between calls
    explicit RouterGradient(const rt::Router& router);
};
void router_mse_gradient(const rt::Router& router, const RouterFeatures& features, const Rows& y,
                         std::span<const uint32_t> rows, RouterGradient& gradient);

// scores[t] of a trained router for every row of x ([n][3]).
Rows router_scores(const rt::Router& router, const Rows& x);

}  // namespace mq::calib
