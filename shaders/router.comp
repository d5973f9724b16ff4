#version 450
// MoBiRoute on the GPU: a linear's router MLP reads each token's input row and writes the
// token's depth for that linear into the depth buffer the MoBiSlice kernels read, so routing
// needs no CPU round trip. One workgroup per token. The math is runtime/router.hpp's:
//   u = x / r, r^2 = mean(x^2) + 1e-6, a = log(r^2);  h = relu(W1 u + wa a + b1);
//   s = W2 h + b2;  depth = 1, then +1 while s[depth - 1] > threshold.
#extension GL_GOOGLE_include_directive : require
#include "workgroup_reduce.glsl"
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint K = 64;        // inputs of the linear
layout(constant_id = 1) const uint STRIDE = 128;  // floats between tokens' rows of X
layout(constant_id = 2) const uint H = 16;        // hidden units (<= WG)
// Floats between tokens' threshold rows: 0 shares one row for the step; the number of routed
// linears gives each token its own row (sequences of different budgets in one step).
layout(constant_id = 3) const uint THRESHOLD_STRIDE = 0;

// Router weights packed as w1[H][K], wa[H], b1[H], w2[3][H], b2[3].
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Weights { float p[]; };
layout(std430, binding = 2) readonly buffer Thresholds { float thresholds[]; };
layout(std430, binding = 3) buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint threshold_index;  // layer * 7 + linear
    uint depth_offset;     // depths[depth_offset + t] is written for token t
} pc;

shared float hidden[WG];

void main() {
    uint t = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
    uint base = t * STRIDE;
    float s = 0.0;
    for (uint i = lid; i < K; i += WG) s += x[base + i] * x[base + i];
    float r2 = workgroup_sum(s) / float(K) + 1e-6;
    float inv_r = inversesqrt(r2), a = log(r2);
    const uint WA = H * K, B1 = WA + H, W2 = B1 + H, B2 = W2 + 3u * H;
    if (lid < H) {
        float dot_ = 0.0;
        for (uint i = 0u; i < K; ++i) dot_ += p[lid * K + i] * x[base + i];
        hidden[lid] = max(0.0, dot_ * inv_r + p[WA + lid] * a + p[B1 + lid]);
    }
    barrier();
    if (lid == 0u) {
        float threshold = thresholds[pc.threshold_index + t * THRESHOLD_STRIDE];
        uint depth = 1u;
        for (uint e = 0u; e < 3u; ++e) {
            float score = p[B2 + e];
            for (uint j = 0u; j < H; ++j) score += p[W2 + e * H + j] * hidden[j];
            if (depth == e + 1u && score > threshold) depth = e + 2u;
        }
        depths[pc.depth_offset + t] = depth;
    }
}
