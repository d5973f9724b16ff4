#pragma once
// How much one unit of a linear's output error costs in the model's loss, so that the routers'
// log output-error gains of different linears become comparable and one global threshold can
// share a budget between them (docs/design.md, "Global allocation").
//
// For linear i with quantization error D = W - W(k) at the probe depth k (every other linear
// full precision), the curvature of the mean next-token NLL along D is measured with the
// symmetric difference C_i = (L(W + D) + L(W - D)) / 2 - L(W), which cancels the first-order
// term (the part of the loss change that depends on the error's sign, not its size). The
// sensitivity is C_i over the mean (weighted) squared output error E_i = mean_t w_t
// ||x_t D^T||^2 the same perturbation causes, and the offset added to the router's log gains
// is log(C_i / E_i).
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "calib/rows.hpp"
#include "runtime/model_weights.hpp"

namespace mq::calib {

// Per-token weights of a linear's squared output error, from the residual stream of the
// tokens where its output lands: an error added to the residual is divided by that token's
// residual RMS at the next RMSNorm, so it counts as err / rms^2 (a token with a large residual,
// such as the first one, suffers less from the same raw error).
std::vector<float> residual_error_weights(const Rows& residual);

// Whether the errors of this linear are weighted by residual_error_weights.
bool weights_errors_by_residual(rt::Linear linear);

struct SensitivityOptions {
    uint32_t probe_depth = 1;  // the quantization error probed (1 = the 2-bit slice alone)
};

// w: every linear with its dense weights and its sliced form. tokens: sequences of seq_len ids
// (BOS first). Returns log(C_i / E_i) per linear ([layer * 7 + linear]); a linear whose
// curvature is not positive (too small to measure) gets the smallest measured offset minus
// log(100). step(i) is called before each linear and may throw to cancel.
std::vector<float> linear_log_sensitivities(const rt::ModelWeights& w,
                                            std::span<const uint32_t> tokens, uint32_t seq_len,
                                            const SensitivityOptions& options = {},
                                            const std::function<void(uint32_t)>& step = {});

// Mean NLL of the next token given the final residual stream (final norm and output head).
// The last token of each sequence has no next token and is skipped.
double mean_next_token_nll(const rt::ModelWeights& w, const Rows& residual,
                           std::span<const uint32_t> tokens, uint32_t seq_len);

}  // namespace mq::calib
