#version 450
// Y[t] = W X[t] for unquantized weights and a tile of TT tokens (prefill). One output row per
// invocation, one dispatch per token tile. The X tile sits in a uniform buffer (on CPU drivers
// such as lavapipe a UBO read is plain vector loads, where a storage read is a per-lane loop
// with a bounds check per component) and each weight is loaded once per tile. Rows of W and X are
// padded with zeros to a multiple of 128 columns. Variants: W_F16 reads weights stored as packed
// half pairs (unpackHalf2x16, no 16-bit storage feature needed).
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 16;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec4 w[]; };  // 8 halves per uvec4
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
layout(std140, binding = 1) uniform X { vec4 x[TT * KV]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
    uint y_stride;
    uint token0;  // batch index of the tile's first token
    uint first;   // tile tokens before this one were written by the previous tile
    uint one;     // 1: the trip count of a loop the compiler cannot see through (see below)
} pc;

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    float acc[TT];
    [[unroll]] for (uint t = 0u; t < TT; ++t) acc[t] = 0.0;
    // Unrolled over K (TT * K is bounded by the uniform range) so x offsets are constants. Each
    // block sits in a one-trip loop the compiler cannot remove: without it lavapipe's LLVM
    // spends minutes on the one huge basic block.
#ifdef W_F16
    uint base = row * (KV / 2u);
#else
    uint base = row * KV;
#endif
    [[unroll]] for (uint b = 0u; b < KV / 8u; ++b) {  // blocks of 32 columns
        for (uint one = 0u; one < pc.one; ++one) {
            vec4 wv[8];
#ifdef W_F16
            [[unroll]] for (uint j = 0u; j < 4u; ++j) {
                uvec4 q = w[base + b * 4u + j];
                wv[2u * j] = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
                wv[2u * j + 1u] = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
            }
#else
            [[unroll]] for (uint j = 0u; j < 8u; ++j) wv[j] = w[base + b * 8u + j];
#endif
            [[unroll]] for (uint t = 0u; t < TT; ++t) {
                uint xi = t * KV + b * 8u;
                acc[t] += dot(wv[0], x[xi]) + dot(wv[1], x[xi + 1u]) + dot(wv[2], x[xi + 2u]) +
                          dot(wv[3], x[xi + 3u]) + dot(wv[4], x[xi + 4u]) + dot(wv[5], x[xi + 5u]) +
                          dot(wv[6], x[xi + 6u]) + dot(wv[7], x[xi + 7u]);
            }
        }
    }
    [[unroll]] for (uint t = 0u; t < TT; ++t)
        if (t >= pc.first) y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row] = acc[t];
}
