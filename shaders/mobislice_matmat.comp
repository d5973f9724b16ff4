#version 450
// Y[t] = W(k_t) X[t] for a tile of TT tokens, each with its own depth k_t read from the GPU depth
// buffer (prefill). One output row per invocation; one dispatch per token tile.
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
//  - accumulators are indexed by unrolled constants only, so they stay in registers.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "mobislice_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 16;  // tokens per tile (this dispatch)
const uint G = (K + GROUP - 1u) / GROUP;
const uint XV = G * 32u;  // vec4s per token row of X (zero beyond K)

// Planes 1-4 of this row chunk, one after the other, plane_stride uvec4s apart.
layout(std430, binding = 0) readonly buffer Planes { uvec4 planes[]; };
layout(std430, binding = 1) readonly buffer ScaleZero { uint scale_zero[]; };  // half2(s1, z1)
layout(std140, binding = 2) uniform X { vec4 x[TT * XV]; };                  // the token tile
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) readonly buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint rows;          // rows in this chunk
    uint y_offset;      // column of Y where this chunk's first row goes
    uint y_stride;      // floats between consecutive tokens' rows of Y
    uint token0;        // batch index of the tile's first token
    uint first;         // tile tokens before this one were written by the previous tile
    uint depth_offset;  // depths[depth_offset + t] is tile token t's depth
    uint plane_stride;  // uvec4s between planes
} pc;


// d[t] += dot(x[t], codes of `word` minus off) for every token of the tile.
void word_dots(uint word, float off, uint xb, inout float d[TT]) {
    vec4 c0 = codes4(word, 0u) - off, c1 = codes4(word, 8u) - off;
    vec4 c2 = codes4(word, 16u) - off, c3 = codes4(word, 24u) - off;
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        uint xi = t * XV + xb;
        d[t] += dot(c0, x[xi]) + dot(c1, x[xi + 1u]) + dot(c2, x[xi + 2u]) + dot(c3, x[xi + 3u]);
    }
}

// Group g of this row, planes 1..max_depth, added to acc[t] with each token's depth mask.
void group_pass(uint row, uint g, uint max_depth, uint depth[TT], inout float acc[TT]) {
    vec2 sz = unpackHalf2x16(scale_zero[row * G + g]);
    float scale = sz.x;      // s_e
    float off = sz.y - 0.5;  // plane 1: Q1 - (z1 - 1/2); deeper planes: Qe - 3/2
    uint i = (row * G + g) * 2u;
    for (uint e = 0u; e < max_depth; ++e) {
        float d[TT];
        [[unroll]] for (uint t = 0u; t < TT; ++t) d[t] = 0.0;
        [[unroll]] for (uint h = 0u; h < 2u; ++h) {
            uvec4 q = planes[i + h];
            uint xb = g * 32u + h * 16u;
            word_dots(q.x, off, xb, d);
            word_dots(q.y, off, xb + 4u, d);
            word_dots(q.z, off, xb + 8u, d);
            word_dots(q.w, off, xb + 12u, d);
        }
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[t] += (e < depth[t] ? scale : 0.0) * d[t];
        scale *= 0.25;
        off = 1.5;
        i += pc.plane_stride;
    }
}

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;

    uint depth[TT];
    float acc[TT];
    uint max_depth = 1u;
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        depth[t] = clamp(depths[pc.depth_offset + t], 1u, 4u);
        max_depth = max(max_depth, depth[t]);
        acc[t] = 0.0;
    }
    [[unroll]] for (uint g = 0u; g < G; ++g) group_pass(row, g, max_depth, depth, acc);
    [[unroll]] for (uint t = 0u; t < TT; ++t)
        if (t >= pc.first) y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row] = acc[t];
}
