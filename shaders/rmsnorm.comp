#version 450
// y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, one workgroup per token.
#extension GL_GOOGLE_include_directive : require
#include "workgroup_reduce.glsl"
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint DIM = 64;
layout(constant_id = 1) const uint STRIDE = 128;
layout(constant_id = 2) const float EPS = 1e-5;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

void main() {
    uint t = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
    uint base = t * STRIDE;
    float s = 0.0;
    for (uint i = lid; i < DIM; i += WG) s += x[base + i] * x[base + i];
    float scale = inversesqrt(workgroup_sum(s) / float(DIM) + EPS);
    for (uint i = lid; i < DIM; i += WG) y[base + i] = x[base + i] * scale * w[i];
}
