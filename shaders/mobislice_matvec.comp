#version 450
// y = W(k) x for one token, k read from a GPU buffer (the router's choice; no CPU round trip).
// One output row per invocation, activations in a uniform buffer: on CPU drivers (lavapipe) a
// dynamically uniform UBO load is one scalar load + broadcast, where an SSBO load is a per-lane
// loop. Work per weight is proportional to the depth: plane e is read and multiplied only when
// k > e, combining planes by Horner's rule, dq = 4 dq + dot(x, Q_e).
// Variants: X_IN_SSBO when K*4 exceeds the device's uniform-buffer range.
#extension GL_GOOGLE_include_directive : require
#include "mobislice_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;      // input features (columns)
const uint G = (K + GROUP - 1u) / GROUP;         // groups per row

layout(std430, binding = 0) readonly buffer Plane0 { uvec4 p0[]; };
layout(std430, binding = 1) readonly buffer Plane1 { uvec4 p1[]; };
layout(std430, binding = 2) readonly buffer Plane2 { uvec4 p2[]; };
layout(std430, binding = 3) readonly buffer Plane3 { uvec4 p3[]; };
layout(std430, binding = 4) readonly buffer ScaleZero { uint scale_zero[]; };  // half2(s1, z1)
#ifdef X_IN_SSBO
layout(std430, binding = 5) readonly buffer X { vec4 x[]; };
#else
layout(std140, binding = 5) uniform X { vec4 x[G * 32u]; };  // zero beyond K
#endif
layout(std430, binding = 6) writeonly buffer Y { float y[]; };
layout(std430, binding = 7) readonly buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint rows;         // rows in this chunk (a big matrix is bound in row ranges)
    uint y_offset;     // where this chunk's first row goes in y
    uint depth_index;  // which entry of depths applies
} pc;

shared float xsum[G];

float word_dot(uint w, uint xb) {
    return dot(codes4(w, 0u), x[xb]) + dot(codes4(w, 8u), x[xb + 1u]) +
           dot(codes4(w, 16u), x[xb + 2u]) + dot(codes4(w, 24u), x[xb + 3u]);
}

// dot(x[group], Q) for the 128 codes held in two uvec4 (8 words).
float group_dot(uvec4 a, uvec4 b, uint xb) {
    return word_dot(a.x, xb) + word_dot(a.y, xb + 4u) + word_dot(a.z, xb + 8u) +
           word_dot(a.w, xb + 12u) + word_dot(b.x, xb + 16u) + word_dot(b.y, xb + 20u) +
           word_dot(b.z, xb + 24u) + word_dot(b.w, xb + 28u);
}

void main() {
    for (uint g = gl_LocalInvocationID.x; g < G; g += gl_WorkGroupSize.x) {
        vec4 s = vec4(0.0);
        for (uint i = 0u; i < 32u; ++i) s += x[g * 32u + i];
        xsum[g] = s.x + s.y + s.z + s.w;
    }
    barrier();

    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    uint depth = clamp(depths[pc.depth_index], 1u, 4u);
    float grid = float(1u << (2u * (depth - 1u)));  // s1 / s_k
    float acc = 0.0;
    uint base = row * G * 2u;
    for (uint g = 0u; g < G; ++g) {
        uint i = base + 2u * g, xb = 32u * g;
        float dq = group_dot(p0[i], p0[i + 1u], xb);
        if (depth > 1u) dq = 4.0 * dq + group_dot(p1[i], p1[i + 1u], xb);
        if (depth > 2u) dq = 4.0 * dq + group_dot(p2[i], p2[i + 1u], xb);
        if (depth > 3u) dq = 4.0 * dq + group_dot(p3[i], p3[i + 1u], xb);
        vec2 sz = unpackHalf2x16(scale_zero[row * G + g]);
        acc += sz.x * (dq - (sz.y * grid - 0.5) * xsum[g]);
    }
    y[pc.y_offset + row] = acc / grid;
}
