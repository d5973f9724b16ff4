#version 450
// y = W x for unquantized weights, one token. Same layout as the MoBiSlice mat-vec (one row per
// invocation, x in a uniform buffer) so the two are compared like for like.
// Rows of W are padded with zeros to a multiple of 128 columns.
// Variants: X_IN_SSBO when K*4 exceeds the device's uniform-buffer range; W_F16 reads weights
// stored as packed half pairs (unpackHalf2x16: no 16-bit storage feature needed, and on lavapipe
// faster than 16-bit loads, which are one scalar load per component).
#extension GL_EXT_control_flow_attributes : enable

#ifdef X_IN_SSBO
#define UNROLL_X  // x is not read through a uniform buffer: nothing to gain, K may be large
#else
#define UNROLL_X [[unroll]]
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec4 w[]; };  // 8 halves per uvec4
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
#ifdef X_IN_SSBO
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
#else
layout(std140, binding = 1) uniform X { vec4 x[KV]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
    uint one;  // 1: the trip count of a loop the compiler cannot see through (see below)
} pc;

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    vec4 acc = vec4(0.0);
    // Unrolled over K so x offsets are constants. Each block sits in a one-trip loop the
    // compiler cannot remove: without it lavapipe's LLVM spends minutes on the one huge basic
    // block.
#ifdef W_F16
    uint base = row * (KV / 2u);
    UNROLL_X for (uint b = 0u; b < KV / 32u; ++b) {
        uint xb = b * 32u, wb = base + b * 16u;
        for (uint one = 0u; one < pc.one; ++one)
        [[unroll]] for (uint i = 0u; i < 32u; i += 2u) {
            uvec4 q = w[wb + i / 2u];
            acc += vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)) * x[xb + i] +
                   vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)) * x[xb + i + 1u];
        }
    }
#else
    uint base = row * KV;
    UNROLL_X for (uint b = 0u; b < KV / 32u; ++b) {
        uint xb = b * 32u, wb = base + b * 32u;
        for (uint one = 0u; one < pc.one; ++one)
        [[unroll]] for (uint i = 0u; i < 32u; i += 2u)
            acc += w[wb + i] * x[xb + i] + w[wb + i + 1u] * x[xb + i + 1u];
    }
#endif
    y[pc.y_offset + row] = acc.x + acc.y + acc.z + acc.w;
}
