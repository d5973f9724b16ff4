#version 450
// Y[t] = W(k_t) X[t] for a tile of TT tokens, each with its own depth k_t read from the GPU depth
// buffer: prefill and batched decode, and on CPU drivers single-token decode as well. RR output
// rows per invocation; one dispatch per token tile.
//
// Written for CPU drivers (lavapipe) as much as for GPUs:
//  - the X tile sits in a uniform buffer: lavapipe reads a UBO with plain vector loads, where a
//    storage-buffer read is a per-lane loop with a bounds check per component (reading X from
//    an SSBO once per token and code measured 6-9x slower);
//  - each plane word is read and decoded once per tile and feeds every token of the tile; a
//    plane deeper than every token of the tile is not read at all (a real loop, not a branch,
//    which lavapipe would execute masked);
//  - the slice form of the weights, W(k) = s1 (Q1 - z1 + 1/2) + sum_{e=2..k} s_e (Qe - 3/2),
//    folds the zero points into the decoded codes: no per-token activation sums, no division;
//  - accumulators are indexed by unrolled constants only.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "mobislice_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 16;  // tokens per tile (this dispatch)
// Output rows per invocation (a define, so that arrays sized by it are plain arrays): a small
// tile has few tokens to share each decoded word, so each activation load feeds RR rows instead
// (on lavapipe 16 rows x 2 tokens is 8-9x faster per token than 1 row x 16 tokens; CPU drivers
// take tiles of up to 4 tokens with 16 rows).
#ifndef MATMAT_ROWS
#define MATMAT_ROWS 1
#endif
const uint RR = MATMAT_ROWS;
const uint G = (K + GROUP - 1u) / GROUP;
const uint XV = G * 32u;  // vec4s per token row of X (zero beyond K)

// Planes 1-4 of this row chunk, one after the other, plane_stride uvec4s apart.
layout(std430, binding = 0) readonly buffer Planes { uvec4 planes[]; };
layout(std430, binding = 1) readonly buffer ScaleZero { uint scale_zero[]; };  // half2(s1, z1)
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) readonly buffer Depths { uint depths[]; };
#define X_BINDING 2  // the token tile
#define X2_BINDING 5
#include "matmat_tile.glsl"

layout(push_constant) uniform Push {
    uint rows;          // rows in this chunk
    uint y_offset;      // column of Y where this chunk's first row goes
    uint y_stride;      // floats between consecutive tokens' rows of Y
    uint token0;        // batch index of the tile's first token
    uint first;         // tile tokens before this one were written by the previous tile
    uint depth_offset;  // depths[depth_offset + t] is tile token t's depth
    uint plane_stride;  // uvec4s between planes
} pc;


// d[r][t] += dot(x[t], codes of row r's word minus off[r]) for every row and token of the tile:
// each word is decoded once for every token, each activation load serves every row.
void word_dots(uint word[RR], float off[RR], uint xb, inout float d[RR][TT]) {
    vec4 c[RR * 4u];
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        [[unroll]] for (uint j = 0u; j < 4u; ++j) c[r * 4u + j] = codes4(word[r], 8u * j) - off[r];
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        vec4 x0 = x_tile(t, xb), x1 = x_tile(t, xb + 1u), x2 = x_tile(t, xb + 2u),
             x3 = x_tile(t, xb + 3u);
        [[unroll]] for (uint r = 0u; r < RR; ++r)
            d[r][t] += dot(c[r * 4u], x0) + dot(c[r * 4u + 1u], x1) + dot(c[r * 4u + 2u], x2) +
                       dot(c[r * 4u + 3u], x3);
    }
}

// Group g of the invocation's rows, planes 1..max_depth, added to acc with each token's depth
// mask.
void group_pass(uint row[RR], uint g, uint max_depth, uint depth[TT], inout float acc[RR][TT]) {
    float scale[RR], off[RR];  // s_e; plane 1: Q1 - (z1 - 1/2); deeper planes: Qe - 3/2
    uint i[RR];
    [[unroll]] for (uint r = 0u; r < RR; ++r) {
        vec2 sz = unpackHalf2x16(scale_zero[row[r] * G + g]);
        scale[r] = sz.x;
        off[r] = sz.y - 0.5;
        i[r] = (row[r] * G + g) * 2u;
    }
    for (uint e = 0u; e < max_depth; ++e) {
        float d[RR][TT];
        [[unroll]] for (uint r = 0u; r < RR; ++r)
            [[unroll]] for (uint t = 0u; t < TT; ++t) d[r][t] = 0.0;
        [[unroll]] for (uint h = 0u; h < 2u; ++h) {
            uvec4 q[RR];
            [[unroll]] for (uint r = 0u; r < RR; ++r) q[r] = planes[i[r] + h];
            [[unroll]] for (uint w = 0u; w < 4u; ++w) {
                uint word[RR];
                [[unroll]] for (uint r = 0u; r < RR; ++r) word[r] = q[r][w];
                word_dots(word, off, g * 32u + h * 16u + 4u * w, d);
            }
        }
        [[unroll]] for (uint r = 0u; r < RR; ++r) {
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                acc[r][t] += (e < depth[t] ? scale[r] : 0.0) * d[r][t];
            scale[r] *= 0.25;
            off[r] = 1.5;
            i[r] += pc.plane_stride;
        }
    }
}

void main() {
    uint row0 = gl_GlobalInvocationID.x * RR;
    if (row0 >= pc.rows) return;

    uint depth[TT], row[RR];
    float acc[RR][TT];
    uint max_depth = 1u;
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        depth[t] = clamp(depths[pc.depth_offset + t], 1u, 4u);
        max_depth = max(max_depth, depth[t]);
    }
    [[unroll]] for (uint r = 0u; r < RR; ++r) row[r] = min(row0 + r, pc.rows - 1u);
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[r][t] = 0.0;
    // A real loop over the groups: unrolled, lavapipe's LLVM took minutes (and GBs) to compile
    // 4 rows x 64 groups.
    [[dont_unroll]] for (uint g = 0u; g < G; ++g) group_pass(row, g, max_depth, depth, acc);
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        if (row0 + r < pc.rows)  // a last partial set recomputed the last row; written once
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                if (t >= pc.first)
                    y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row0 + r] = acc[r][t];
}
