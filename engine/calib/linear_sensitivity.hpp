#pragma once
// Helpers shared by the router targets and the loss sensitivities (calib/fisher_sensitivity.hpp):
// how a linear's output error is weighted per token, and the model's mean next-token NLL.
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

// Mean NLL of the next token given the final residual stream (final norm and output head).
// The last token of each sequence has no next token and is skipped.
double mean_next_token_nll(const rt::ModelWeights& w, const Rows& residual,
                           std::span<const uint32_t> tokens, uint32_t seq_len);

}  // namespace mq::calib
