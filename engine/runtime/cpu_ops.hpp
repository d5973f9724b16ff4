#pragma once
// The element-wise parts of CpuForward's step, over the rows of a batch of
// tokens: RMSNorm and rotary position embedding (SwiGLU is cpu::silu_mul). Same math as the
// reference forward (runtime/ reference_forward.hpp), in float where the
// reference uses double except where that costs accuracy (the rms sum of
// squares and the rotary angles stay in double).
#include <cstdint>
#include <span>
#include <vector>

#include "formats/model_desc.hpp"

namespace mq::rt::cpu_ops {

// out[t] = x[t] * 1/sqrt(mean(x[t]^2) + eps) * weight, for `rows` rows of
// weight.size() floats.
void rmsnorm_rows(const float* x, std::span<const float> weight, double eps, uint32_t rows,
                  float* out);

// Rotates each head of one token's q or k row ([heads][head_dim]) by position
// pos; freq[i] per rotary pair (rope_dim / 2 of them): interleaved pairs
// (Normal) or half-split pairs (Neox).
void rope_row(float* row, uint32_t heads, uint32_t head_dim, uint32_t rope_dim, RopeLayout layout,
              uint32_t pos, std::span<const double> freq);

}  // namespace mq::rt::cpu_ops
