#version 450
// y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, one workgroup per token.
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint DIM = 64;
layout(constant_id = 1) const uint STRIDE = 128;
layout(constant_id = 2) const float EPS = 1e-5;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
shared float partial[64];

void main() {
    uint t = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
    uint base = t * STRIDE;
    float s = 0.0;
    for (uint i = lid; i < DIM; i += 64u) s += x[base + i] * x[base + i];
    partial[lid] = s;
    barrier();
    for (uint half_ = 32u; half_ > 0u; half_ >>= 1u) {
        if (lid < half_) partial[lid] += partial[lid + half_];
        barrier();
    }
    float scale = inversesqrt(partial[0] / float(DIM) + EPS);
    for (uint i = lid; i < DIM; i += 64u) y[base + i] = x[base + i] * scale * w[i];
}
