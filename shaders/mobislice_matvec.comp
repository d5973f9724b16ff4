#version 450
// y = W(k) x for one token, k read from a GPU buffer (the router's choice; no CPU round trip).
// One output row per invocation, activations in a uniform buffer: on CPU drivers (lavapipe) a
// UBO load is plain vector loads, where an SSBO load is a per-lane loop. Work per weight is
// proportional to the depth: planes 2..k are visited by a loop whose trip count is the depth (a
// branch would still execute its body, masked, on lavapipe), combining planes by Horner's rule,
// dq = 4 dq + dot(x, Q_e). No shared memory and no barrier: a barrier makes lavapipe compile
// the shader as a coroutine, which takes minutes for the unrolled group loop; each lane sums the
// group's activations itself.
// Variants: X_IN_SSBO when K*4 exceeds the device's uniform-buffer range.
#extension GL_GOOGLE_include_directive : require
#include "mobislice_common.glsl"
#extension GL_EXT_control_flow_attributes : enable

#ifdef X_IN_SSBO
#define UNROLL_X  // x is not read through a uniform buffer: nothing to gain, K may be large
#else
#define UNROLL_X [[unroll]]
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;      // input features (columns)
const uint G = (K + GROUP - 1u) / GROUP;         // groups per row

// Planes 1-4 of this row chunk, one after the other, plane_stride uvec4s apart.
layout(std430, binding = 0) readonly buffer Planes { uvec4 planes[]; };
layout(std430, binding = 1) readonly buffer ScaleZero { uint scale_zero[]; };  // half2(s1, z1)
#ifdef X_IN_SSBO
layout(std430, binding = 2) readonly buffer X { vec4 x[]; };
#else
layout(std140, binding = 2) uniform X { vec4 x[G * 32u]; };  // zero beyond K
#endif
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) readonly buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint rows;          // rows in this chunk (a big matrix is bound in row ranges)
    uint y_offset;      // where this chunk's first row goes in y
    uint depth_index;   // which entry of depths applies
    uint plane_stride;  // uvec4s between planes
} pc;

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
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    uint depth = clamp(depths[pc.depth_index], 1u, 4u);
    float grid = float(1u << (2u * (depth - 1u)));  // s1 / s_k
    float acc = 0.0;
    uint base = row * G * 2u;
    // Unrolled over the groups so x offsets are constants (the plane loop inside each group keeps
    // the basic blocks small enough for lavapipe's LLVM to compile quickly).
    UNROLL_X for (uint g = 0u; g < G; ++g) {
        uint i = base + 2u * g, xb = 32u * g;
        float dq = group_dot(planes[i], planes[i + 1u], xb);
        for (uint e = 1u; e < depth; ++e) {
            i += pc.plane_stride;
            dq = 4.0 * dq + group_dot(planes[i], planes[i + 1u], xb);
        }
        vec4 s4 = vec4(0.0);  // sum of the group's activations (the loads are shared with above)
        [[unroll]] for (uint j = 0u; j < 32u; ++j) s4 += x[xb + j];
        vec2 sz = unpackHalf2x16(scale_zero[row * G + g]);
        acc += sz.x * (dq - (sz.y * grid - 0.5) * (s4.x + s4.y + s4.z + s4.w));
    }
    y[pc.y_offset + row] = acc / grid;
}
