#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary position embedding in place on q or k rows of the step's tokens. NEOX = 0 rotates
// interleaved pairs (x[2i], x[2i+1]) as GGUF llama files expect; NEOX = 1 rotates half-split
// pairs (x[i], x[i + rope_dim/2]) as Hugging Face and qwen2 checkpoints do.
// inv_freq[i] = theta^(-2i/rope_dim) / factor_i is computed on the host (llama3 scaling).
#include "step_params.glsl"
layout(local_size_x = MQ_WORKGROUP_SIZE) in;  // cmake/Shaders.cmake
layout(constant_id = 0) const uint HEADS = 1;
layout(constant_id = 1) const uint HEAD_DIM = 64;
layout(constant_id = 2) const uint ROPE_DIM = 64;
layout(constant_id = 3) const uint STRIDE = 128;
layout(constant_id = 4) const uint NEOX = 0;
layout(std430, binding = 0) buffer Data { float data[]; };
layout(std430, binding = 1) readonly buffer InvFreq { float inv_freq[]; };
STEP_PARAMS(2)
#ifdef PER_TOKEN
TOKEN_SLOTS(3)
#endif

void main() {
    const uint PAIRS = ROPE_DIM / 2u;
    uint gid = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.y;
    if (gid >= HEADS * PAIRS || t >= step.n_tokens) return;
    uint h = gid / PAIRS, i = gid % PAIRS;
    float angle = float(token_position(t)) * inv_freq[i];
    float c = cos(angle), s = sin(angle);
    uint base = t * STRIDE + h * HEAD_DIM;
    uint a = NEOX != 0u ? base + i : base + 2u * i;
    uint b = NEOX != 0u ? base + i + PAIRS : base + 2u * i + 1u;
    float x0 = data[a], x1 = data[b];
    data[a] = x0 * c - x1 * s;
    data[b] = x0 * s + x1 * c;
}
