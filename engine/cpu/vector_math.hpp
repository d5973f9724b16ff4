#pragma once
// The element-wise and small-vector work of a CPU forward step, in SIMD (Highway, picked at run
// time like the products): grouped-query attention over the cached keys and values, and SwiGLU.
// Over a decode step these are a fifth of the time when left to the compiler's baseline SSE2.
#include <cstdint>

namespace mq::cpu {

// Attention of `heads` query heads that share one key/value head (grouped-query attention):
// for each h, out[h * head_dim, +head_dim) = sum_s p_s v_s with p = softmax(scale * q_h . k_s)
// over s < n, q_h = q + h * head_dim, k_s and v_s at keys + s * stride and values + s * stride.
// Each key and value row is read once for the group's heads. scores: scratch for
// min(heads, 4) * n floats.
void attend_heads(const float* q, uint32_t heads, const float* keys, const float* values,
                  uint64_t stride, uint32_t n, uint32_t head_dim, float scale, float* scores,
                  float* out);

// gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
void silu_mul(float* gate, const float* up, uint64_t n);

}  // namespace mq::cpu
