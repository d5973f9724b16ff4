#pragma once
// Loss sensitivity of every linear from one forward and one backward pass of the full-precision
// model (Gauss-Newton / Fisher curvature), in place of probing each linear's quantization error
// through the rest of the model twice per linear (O(layers^2) forwards), as it was done before.
//
// The quantity. The router scores of linear i predict log output-error gains; to compare them
// across linears, each gets the offset log(C_i / E_i): C_i is the loss curvature along the
// linear's quantization error D_i (W -> W - D_i at the probe depth, every other linear full
// precision) and E_i = mean_t w_t ||dy_t||^2 the mean (weighted) squared output error it causes,
// dy_t = x_t D_i^T. So an adjusted score estimates the loss a slice buys.
//
// The curvature. Quality is judged by the KL divergence of the quantized model's next-token
// distributions from the full-precision model's (docs/design.md section 6). To second order, with
// dz_s the change of position s's logits, KL_s = 1/2 dz_s^T F_s dz_s, where F_s = diag(p_s) -
// p_s p_s^T is the Fisher matrix of the softmax p_s; and linearizing the network,
// dz_s = sum_t J_st dy_t. So C_i = 1/2 mean_s dz_s^T F_s dz_s (the Gauss-Newton curvature along
// D_i, which is the exact Hessian of the expected KL at W; it is also the part of the NLL
// Hessian that survives on average when the text comes from the model; the symmetric-difference
// probe (L(W+D) + L(W-D))/2 - L(W) of the calibration NLL measured the whole NLL Hessian along
// D_i, this Gauss-Newton part plus a term weighted by the residuals p_s - onehot(next token)).
//
// The estimator. Draw, per position s, a random vector r_s with E[r_s r_s^T] = F_s: Gaussian,
// r_s = sqrt(p_s) * e - p_s (sqrt(p_s) . e) with e ~ N(0, I) (or the one-hot r_s = p_s - onehot(y)
// with y ~ p_s; the Gaussian has lighter tails). Backpropagate the "loss" sum_s r_s . z_s: the
// gradient at linear i's output is g_t = sum_s J_st^T r_s, and g . dY = sum_s r_s . dz_s, whose
// expected square over the independent r_s is sum_s dz_s^T F_s dz_s. Sequences are independent
// (attention stays inside one), so C_i = 1/(2N) sum_seq E[(sum_{t in seq} g_t . dy_t)^2]
// ("per sequence": unbiased, but one draw is a chi-square of as many degrees of freedom as there
// are sequences). Dropping the products of different tokens' errors,
// C_i ~ 1/(2N) sum_t E[(g_t . dy_t)^2] ("per token": each token's error alone, all its paths
// through later positions included; many degrees of freedom), and dropping the products of
// different output channels too, 1/(2N) sum_t sum_r g_tr^2 dy_tr^2 ("diagonal"). With the data
// target r_s = p_s - onehot(next token) it is the empirical Fisher of the calibration text's NLL.
//
// The choice (the defaults). Model Fisher, diagonal, one draw. The diagonal form is the per-token
// one averaged over the quantization error's signs: D's rows are rounding errors with no common
// sign, so the products of different output channels' errors have mean ~0 and dropping them
// removes their noise (one draw of (g_t . dy_t)^2 is a chi-square with one degree of freedom
// per token; the diagonal sums one per channel). On the default model (4 layers, 28 linears)
// the diagonal offsets rank the linears as the probes did (Spearman 0.96; per token 0.95, per
// sequence 0.94), and the routed KL from full precision at 2.5/3.0/3.5/4.5/7.0 bits was, against
// the probes' checkpoint, -5.7/-3.8/+0.5/-24/-36% (per token -1.7/-2.6/+0.8/-19/-35%, data NLL
// per token -0.3/-3.1/+0.1/-18/-35%).
//
// The cost. One forward pass storing the residual stream at every layer's input, one pass of the
// output head in chunks, and one backward pass that recomputes each layer's forward from its
// stored input (about 4 forward passes' work in all), plus one product x D^T per linear and probed
// depth (one forward pass per depth); each further draw adds a backward pass. O(layers), against
// the probes' 2 x 7 x layers partial forwards (O(layers^2)). Memory: the residual stream per
// layer (layers x tokens x dim floats), one layer's intermediates and weights, and at most
// ~256 MB of logits.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "calib/layer_backward.hpp"

namespace mq::calib {

enum class CurvatureTarget {
    ModelFisher,  // Gaussian draws with the model's own Fisher covariance: the KL's curvature
    DataNll,      // p - onehot(next token): the calibration text's NLL (empirical Fisher)
};
enum class CurvatureForm { PerToken, PerSequence, Diagonal };

struct FisherOptions {
    std::vector<uint32_t> depths = {2};  // probed quantization errors (MoBiSlice depths 1..4)
    CurvatureTarget target = CurvatureTarget::ModelFisher;
    uint32_t samples = 1;  // draws of the targets (ModelFisher), each one more backward pass
    uint64_t seed = 1;
    // Weight o/down output errors per token by 1 / residual RMS^2 (residual_error_weights), as
    // the router targets are when QuantizeOptions::residual_weights is on.
    bool residual_weights = true;
};

// One linear's statistics at one depth, all means over tokens.
struct LinearCurvature {
    double error = 0;      // E: mean_t w_t ||dy_t||^2
    double per_token = 0;  // curvature estimates, 1/2 mean ... as above
    double per_sequence = 0;
    double diagonal = 0;

    double curvature(CurvatureForm form) const;
};

// Every linear's curvature statistics ([depth index][layer * 7 + linear]). The weights come one
// layer at a time from w; each linear needs both its dense and its sliced form. tokens: whole
// sequences of seq_len ids (BOS first). step(done, total) is called before each stage (a
// layer's forward, the head, a layer's backward) and may throw to cancel.
std::vector<std::vector<LinearCurvature>> linear_curvatures(
    const WeightSource& w, std::span<const uint32_t> tokens, uint32_t seq_len,
    const FisherOptions& options, const std::function<void(uint32_t, uint32_t)>& step = {});

// log(C_i / E_i) per linear; a linear whose curvature or error is 0 gets the smallest positive
// ratio / 100.
std::vector<float> log_sensitivities(const std::vector<LinearCurvature>& stats,
                                     CurvatureForm form = CurvatureForm::Diagonal);

}  // namespace mq::calib
