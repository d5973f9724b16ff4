#version 450
// Y[t] = W(k_t) X[t] for a batch of tokens, each with its own depth k_t (prefill). One output row
// per invocation and a tile of TT tokens per workgroup row (gl_WorkGroupID.y). Each plane word is
// read and decoded once per tile and reused by every token of the tile whose depth reaches it;
// a plane no token of the tile needs is not read at all.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "mobislice_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 8;   // tokens per tile
const uint G = (K + GROUP - 1u) / GROUP;
const uint XV = G * 32u;                     // vec4s per token row of X (padded with zeros)

layout(std430, binding = 0) readonly buffer Plane0 { uint p0[]; };
layout(std430, binding = 1) readonly buffer Plane1 { uint p1[]; };
layout(std430, binding = 2) readonly buffer Plane2 { uint p2[]; };
layout(std430, binding = 3) readonly buffer Plane3 { uint p3[]; };
layout(std430, binding = 4) readonly buffer ScaleZero { uint scale_zero[]; };
layout(std430, binding = 5) readonly buffer X { vec4 x[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };
layout(std430, binding = 7) readonly buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint rows;          // rows in this chunk
    uint tokens;        // T
    uint y_offset;      // column of Y where this chunk's first row goes
    uint y_stride;      // floats between consecutive tokens' rows of Y
    uint depth_offset;  // depths[depth_offset + t] is token t's depth
} pc;

shared float xsum[TT * G];

uint plane_word(uint e, uint i) {
    if (e == 0u) return p0[i];
    if (e == 1u) return p1[i];
    if (e == 2u) return p2[i];
    return p3[i];
}

void main() {
    uint t0 = gl_WorkGroupID.y * TT;
    uint nt = min(TT, pc.tokens - t0);
    for (uint i = gl_LocalInvocationID.x; i < TT * G; i += gl_WorkGroupSize.x) {
        uint t = i / G, g = i % G;
        float s = 0.0;
        if (t < nt) {
            vec4 v = vec4(0.0);
            for (uint j = 0u; j < 32u; ++j) v += x[(t0 + t) * XV + g * 32u + j];
            s = v.x + v.y + v.z + v.w;
        }
        xsum[i] = s;
    }
    barrier();

    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;

    uint depth[TT];
    float acc[TT];
    uint max_depth = 0u;
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        depth[t] = t < nt ? clamp(depths[pc.depth_offset + t0 + t], 1u, 4u) : 0u;
        max_depth = max(max_depth, depth[t]);
        acc[t] = 0.0;
    }

    for (uint g = 0u; g < G; ++g) {
        float dq[TT];
        [[unroll]] for (uint t = 0u; t < TT; ++t) dq[t] = 0.0;
        for (uint e = 0u; e < max_depth; ++e) {
            float d[TT];
            [[unroll]] for (uint t = 0u; t < TT; ++t) d[t] = 0.0;
            uint wbase = (row * G + g) * WORDS_PER_GROUP;
            for (uint w = 0u; w < WORDS_PER_GROUP; ++w) {
                uint word = plane_word(e, wbase + w);
                vec4 c0 = codes4(word, 0u), c1 = codes4(word, 8u);
                vec4 c2 = codes4(word, 16u), c3 = codes4(word, 24u);
                uint xb = g * 32u + w * 4u;
                [[unroll]] for (uint t = 0u; t < TT; ++t) {
                    if (depth[t] > e) {
                        uint xi = (t0 + t) * XV + xb;
                        d[t] += dot(c0, x[xi]) + dot(c1, x[xi + 1u]) + dot(c2, x[xi + 2u]) +
                                dot(c3, x[xi + 3u]);
                    }
                }
            }
            [[unroll]] for (uint t = 0u; t < TT; ++t)
                if (depth[t] > e) dq[t] = 4.0 * dq[t] + d[t];
        }
        vec2 sz = unpackHalf2x16(scale_zero[row * G + g]);
        [[unroll]] for (uint t = 0u; t < TT; ++t) {
            float grid = float(1u << (2u * (max(depth[t], 1u) - 1u)));
            acc[t] += sz.x * (dq[t] - (sz.y * grid - 0.5) * xsum[t * G + g]);
        }
    }
    [[unroll]] for (uint t = 0u; t < TT; ++t) {
        if (t < nt) {
            float grid = float(1u << (2u * (depth[t] - 1u)));
            y[(t0 + t) * pc.y_stride + pc.y_offset + row] = acc[t] / grid;
        }
    }
}
