#version 450
#extension GL_GOOGLE_include_directive : require
// Appends the step's k and v rows to this layer's cache at positions pos0 + t (PER_TOKEN: at
// each token's own position in its own slot's region).
#include "step_params.glsl"
layout(local_size_x = MQ_WORKGROUP_SIZE) in;  // cmake/Shaders.cmake
layout(constant_id = 0) const uint KV_DIM = 64;
layout(constant_id = 1) const uint STRIDE = 128;  // floats per row of k and v
layout(std430, binding = 0) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) writeonly buffer KC { float kcache[]; };  // [context][KV_DIM]
layout(std430, binding = 3) writeonly buffer VC { float vcache[]; };
STEP_PARAMS(4)
#ifdef PER_TOKEN
TOKEN_SLOTS(5)
#endif

void main() {
    uint i = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.y;
    if (i >= KV_DIM || t >= step.n_tokens) return;
    uint dst = (token_row0(t) + token_position(t)) * KV_DIM + i;
    kcache[dst] = k[t * STRIDE + i];
    vcache[dst] = v[t * STRIDE + i];
}
