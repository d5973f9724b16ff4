#version 450
// Y[t] = W(k_t) X[t] for a tile of TT tokens, each with its own depth k_t read from the GPU depth
// buffer: prefill and batched decode, and on CPU drivers single-token decode as well. RR output
// rows per invocation; one dispatch per token tile.
//
// Written for CPU drivers (lavapipe) as much as for GPUs:
//  - the X tile sits in a uniform buffer: lavapipe reads a UBO with plain vector loads, where a
//    storage-buffer read is a per-lane loop with a bounds check per component (reading X from
//    an SSBO once per token and code measured 6-9x slower);
//  - the planes of a weight are combined into one code (integer Horner on whole words) and
//    converted once for every token of the tile: the work per weight and token is one
//    multiply-add, not one per plane (a tile holding several depths takes a pass per depth); a
//    plane deeper than the pass's depth is not read at all (a real loop, not a branch, which
//    lavapipe would execute masked);
//  - the zero point is folded into the converted codes, W(k) = s_k (q(k) - (4^(k-1) z1 - 1/2)):
//    no per-token activation sums, no division;
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

// Planes 1..n of four plane words combined into 8-bit codes by Horner's rule on whole words:
// byte j of word w of cs[b] is the depth-n code of activation 4j + b of word w. Each plane adds
// its codes under the previous ones, two bits a plane.
void first_plane(uvec4 word, out uvec4 cs[4]) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j) cs[j] = (word >> (2u * j)) & PLANE_CODES;
}
void next_plane(uvec4 word, inout uvec4 cs[4]) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j)
        cs[j] = (cs[j] << 2u) | ((word >> (2u * j)) & PLANE_CODES);
}

// The codes of activations 4j..4j+3 of word w (bytes j of its four code words), minus the row's
// offset.
vec4 word_codes(uvec4 cs[4], uint w, uint j, float off) {
    return vec4((uvec4(cs[0][w], cs[1][w], cs[2][w], cs[3][w]) >> (8u * j)) & 0xFFu) - off;
}

// Group g of the invocation's rows at depth k for every token of the tile, added to acc. A
// weight's depth-k value is s_k (q(k) - off_k): q(k) = sum_e Q_e 4^(k-e) its combined code,
// s_k = s1 / 4^(k-1), off_k = 4^(k-1) z1 - 1/2 (the slice form summed over the planes), so each
// weight is converted once and costs one multiply-add per token, whatever the depth.
void group_pass(uint row[RR], uint g, uint k, inout float acc[RR][TT]) {
    float s_k[RR], off[RR];
    uint i[RR];
    const float grid = float(1u << (2u * (k - 1u)));  // s1 / s_k
    [[unroll]] for (uint r = 0u; r < RR; ++r) {
        vec2 sz = unpackHalf2x16(scale_zero[row[r] * G + g]);
        s_k[r] = sz.x / grid;
        off[r] = grid * sz.y - 0.5;
        i[r] = (row[r] * G + g) * 2u;
    }
    float d[RR][TT];
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        [[unroll]] for (uint t = 0u; t < TT; ++t) d[r][t] = 0.0;
    [[unroll]] for (uint h = 0u; h < 2u; ++h) {
        uvec4 cs[RR][4];
        [[unroll]] for (uint r = 0u; r < RR; ++r) first_plane(planes[i[r] + h], cs[r]);
        // A real loop (a branch would run its body, masked, on lavapipe): planes deeper than k
        // are not read.
        for (uint e = 1u; e < k; ++e)
            [[unroll]] for (uint r = 0u; r < RR; ++r)
                next_plane(planes[i[r] + h + e * pc.plane_stride], cs[r]);
        [[unroll]] for (uint w = 0u; w < 4u; ++w) {
            const uint xb = g * 32u + h * 16u + 4u * w;
            vec4 c[RR * 4u];
            [[unroll]] for (uint r = 0u; r < RR; ++r)
                [[unroll]] for (uint j = 0u; j < 4u; ++j)
                    c[r * 4u + j] = word_codes(cs[r], w, j, off[r]);
            [[unroll]] for (uint t = 0u; t < TT; ++t) {
                vec4 x0 = x_tile(t, xb), x1 = x_tile(t, xb + 1u), x2 = x_tile(t, xb + 2u),
                     x3 = x_tile(t, xb + 3u);
                [[unroll]] for (uint r = 0u; r < RR; ++r)
                    d[r][t] += dot(c[r * 4u], x0) + dot(c[r * 4u + 1u], x1) +
                               dot(c[r * 4u + 2u], x2) + dot(c[r * 4u + 3u], x3);
            }
        }
    }
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[r][t] += s_k[r] * d[r][t];
}

void main() {
    uint row0 = gl_GlobalInvocationID.x * RR;
    if (row0 >= pc.rows) return;

    uint depth[TT], row[RR];
    float acc[RR][TT];
    uint present = 0u;  // bit k - 1: some token of the tile has depth k
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        depth[t] = clamp(depths[pc.depth_offset + t], 1u, 4u);
        present |= 1u << (depth[t] - 1u);
    }
    [[unroll]] for (uint r = 0u; r < RR; ++r) row[r] = min(row0 + r, pc.rows - 1u);
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        [[unroll]] for (uint t = 0u; t < TT; ++t) acc[r][t] = 0.0;
    // One pass over the row per depth the tile holds (one unless the tile mixes depths), each
    // token keeping the pass of its own depth: a token's sums run in the same order whatever the
    // tile, so batching does not change its bits. Real loops: unrolled over the groups,
    // lavapipe's LLVM took minutes (and GBs) to compile 4 rows x 64 groups.
    for (uint rest = present; rest != 0u; rest &= rest - 1u) {
        const uint k = uint(findLSB(rest)) + 1u;
        float acc_k[RR][TT];
        [[unroll]] for (uint r = 0u; r < RR; ++r)
            [[unroll]] for (uint t = 0u; t < TT; ++t) acc_k[r][t] = 0.0;
        [[dont_unroll]] for (uint g = 0u; g < G; ++g) group_pass(row, g, k, acc_k);
        [[unroll]] for (uint r = 0u; r < RR; ++r)
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                acc[r][t] = depth[t] == k ? acc_k[r][t] : acc[r][t];
    }
    [[unroll]] for (uint r = 0u; r < RR; ++r)
        if (row0 + r < pc.rows)  // a last partial set recomputed the last row; written once
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                if (t >= pc.first)
                    y[(pc.token0 + t) * pc.y_stride + pc.y_offset + row0 + r] = acc[r][t];
}
