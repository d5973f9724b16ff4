#version 450
// Y[t] = W X[t] for unquantized weights and a tile of TT tokens (prefill). One output row per
// invocation, one dispatch per token tile. The X tile sits in a uniform buffer (on CPU drivers
// such as lavapipe a UBO read is plain vector loads, where a storage read is a per-lane loop
// with a bounds check per component) and each weight is loaded once per tile. Rows of W and X are padded with
// zeros to a multiple of 128 columns.
// Variants: W_F16 reads weights stored as packed half pairs (unpackHalf2x16, no 16-bit storage
// feature needed).
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
    [[unroll]] for (uint b = 0u; b < KV / 4u; ++b) {
        uint xb = b * 4u;
        for (uint one = 0u; one < pc.one; ++one) {
        uvec4 q0 = w[base + b * 2u], q1 = w[base + b * 2u + 1u];
        vec4 w0 = vec4(unpackHalf2x16(q0.x), unpackHalf2x16(q0.y));
        vec4 w1 = vec4(unpackHalf2x16(q0.z), unpackHalf2x16(q0.w));
        vec4 w2 = vec4(unpackHalf2x16(q1.x), unpackHalf2x16(q1.y));
        vec4 w3 = vec4(unpackHalf2x16(q1.z), unpackHalf2x16(q1.w));
#else
    uint base = row * KV;
    [[unroll]] for (uint b = 0u; b < KV / 4u; ++b) {
        uint xb = b * 4u;
        for (uint one = 0u; one < pc.one; ++one) {
        vec4 w0 = w[base + b * 4u], w1 = w[base + b * 4u + 1u];
        vec4 w2 = w[base + b * 4u + 2u], w3 = w[base + b * 4u + 3u];
#endif
        [[unroll]] for (uint t = 0u; t < TT; ++t) {
            uint xi = t * KV + xb;
            acc[t] += dot(w0, x[xi]) + dot(w1, x[xi + 1u]) + dot(w2, x[xi + 2u]) +
                      dot(w3, x[xi + 3u]);
        }
        }
    }
    [[unroll]] for (uint t = 0u; t < TT; ++t)
        if (t >= pc.first) y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row] = acc[t];
}
