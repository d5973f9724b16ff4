#version 450
// Y[t] = W X[t] for unquantized weights and a tile of TT tokens (prefill, batched decode). RR
// output rows per invocation, one dispatch per token tile. The X tile sits in uniform buffers (on
// CPU drivers such as lavapipe a UBO read is plain vector loads, where a storage read is a
// per-lane loop with a bounds check per component) and each weight is loaded once per tile. Rows
// of W and X are padded with zeros to a multiple of 128 columns. Variants: W_F16 reads weights
// stored as packed half pairs (unpackHalf2x16, no 16-bit storage feature needed); MATMAT_ROWS
// sets RR.
//
// Every variant sums a token's row in the same order, whatever RR and TT: per block of 32
// columns the eight vec4 dots left to right, then the blocks in order. A token's product
// therefore has the same bits in any batch, tile and row cut (a batch gives each sequence
// exactly what it gets alone).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 16;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row
// Output rows per invocation (a define, so that arrays sized by it are plain arrays): on CPU
// drivers, where an invocation value is a SIMD register across lanes, a small tile has few tokens
// to share each weight load, so each activation load feeds RR rows instead.
#ifndef MATMAT_ROWS
#define MATMAT_ROWS 1
#endif
const uint RR = MATMAT_ROWS;

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec4 w[]; };  // 8 halves per uvec4
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
const uint XV = KV;
#define X_BINDING 1
#define X2_BINDING 3
#include "matmat_tile.glsl"

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
    uint y_stride;
    uint token0;  // batch index of the tile's first token
    uint first;   // tile tokens before this one were written by the previous tile
    uint one;     // 1: the trip count of a loop the compiler cannot see through (see below)
} pc;

// The 32 weights of `row` in block b (columns 32b..32b+31).
void load_block(uint row, uint b, out vec4 wv[8]) {
#ifdef W_F16
    uint base = row * (KV / 2u) + b * 4u;
    [[unroll]] for (uint j = 0u; j < 4u; ++j) {
        uvec4 q = w[base + j];
        wv[2u * j] = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
        wv[2u * j + 1u] = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
    }
#else
    [[unroll]] for (uint j = 0u; j < 8u; ++j) wv[j] = w[row * KV + b * 8u + j];
#endif
}

// Block b of one row for tile token t, in the order every variant uses.
float block_dot(vec4 wv[8], uint t, uint b) {
    uint i = b * 8u;
    return dot(wv[0], x_tile(t, i)) + dot(wv[1], x_tile(t, i + 1u)) +
           dot(wv[2], x_tile(t, i + 2u)) + dot(wv[3], x_tile(t, i + 3u)) +
           dot(wv[4], x_tile(t, i + 4u)) + dot(wv[5], x_tile(t, i + 5u)) +
           dot(wv[6], x_tile(t, i + 6u)) + dot(wv[7], x_tile(t, i + 7u));
}

// Block b of the invocation's rows, added to every token's accumulators.
void block_pass(uint row[RR], uint b, inout float acc[RR][TT]) {
    [[unroll]] for (uint r = 0u; r < RR; ++r) {
        vec4 wv[8];
        load_block(row[r], b, wv);
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[r][t] += block_dot(wv, t, b);
    }
}

void main() {
    uint row0 = gl_GlobalInvocationID.x * RR;
    if (row0 >= pc.rows) return;
    uint row[RR];
    float acc[RR][TT];
    [[unroll]] for (uint r = 0u; r < RR; ++r) {
        row[r] = min(row0 + r, pc.rows - 1u);  // a last partial set recomputes the last row
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[r][t] = 0.0;
    }
#if MATMAT_ROWS == 1
    // Unrolled over K (TT * K is bounded by the uniform range) so x offsets are constants. Each
    // block sits in a one-trip loop the compiler cannot remove: without it lavapipe's LLVM
    // spends minutes on the one huge basic block.
    [[unroll]] for (uint b = 0u; b < KV / 8u; ++b)
        for (uint one = 0u; one < pc.one; ++one) block_pass(row, b, acc);
#else
    // A real loop over the blocks: RR rows unrolled over K would take lavapipe's LLVM minutes.
    [[dont_unroll]] for (uint b = 0u; b < KV / 8u; ++b) block_pass(row, b, acc);
#endif
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        if (row0 + r < pc.rows)  // a last partial set recomputed the last row; written once
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                if (t >= pc.first)
                    y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row0 + r] = acc[r][t];
}
