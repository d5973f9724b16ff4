#pragma once
// The element-wise and small-vector work of a CPU forward step, in SIMD (Highway, picked at run
// time like the products): one head's attention over its cached keys and values, and SwiGLU.
// Over a decode step these are a fifth of the time when left to the compiler's baseline SSE2.
#include <cstdint>

namespace mq::cpu {

// out[0, head_dim) = sum_s p_s v_s with p = softmax(scale * q . k_s) over s < n, where k_s and
// v_s start at keys + s * stride and values + s * stride. scores: scratch for n floats.
void attend_head(const float* q, const float* keys, const float* values, uint64_t stride,
                 uint32_t n, uint32_t head_dim, float scale, float* scores, float* out);

// gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
void silu_mul(float* gate, const float* up, uint64_t n);

}  // namespace mq::cpu
