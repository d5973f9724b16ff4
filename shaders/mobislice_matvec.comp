#version 450
// y = W(k) x for one token, k read from a GPU buffer (the router's choice; no CPU round trip).
// ROWS output rows per invocation, activations in a uniform buffer: on CPU drivers (lavapipe) a
// UBO load is a scalar load plus a broadcast, where an SSBO load is a per-lane loop; each
// activation load feeds ROWS rows (at depth 1 the loads cost about as much as the arithmetic).
// Work per weight is proportional to the depth: planes 2..k are visited by a loop whose trip
// count is the depth (a branch would still execute its body, masked, on lavapipe), combining
// planes by Horner's rule, dq = 4 dq + dot(x, Q_e). No shared memory and no barrier: a barrier
// makes lavapipe compile the shader as a coroutine, which takes minutes for the unrolled group
// loop; each lane sums the group's activations itself.
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
// 1: every call reads depth 4, known when the plan is recorded (an unrouted 8-bit head); the
// planes are then combined into 8-bit codes (full_depth_dots) instead of visited one by one.
layout(constant_id = 2) const uint FULL_DEPTH = 0;
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

#define ROWS MQ_MATVEC_ROWS_PER_LANE  // output rows per invocation (cmake/Shaders.cmake)

// dq[r] = mul * dq[r] + dot(x[group], Q) for each row's 128 codes of one plane (two uvec4 at
// idx[r]); the activations of each word are loaded once for all rows.
void plane_dots(inout float dq[ROWS], uint idx[ROWS], uint xb, float mul) {
    uvec4 a[ROWS], b[ROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        a[r] = planes[idx[r]];
        b[r] = planes[idx[r] + 1u];
        dq[r] *= mul;
    }
    [[unroll]] for (uint w = 0u; w < 8u; ++w) {
        uint xw = xb + 4u * w;
        vec4 x0 = x[xw], x1 = x[xw + 1u], x2 = x[xw + 2u], x3 = x[xw + 3u];
        [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
            dq[r] += word_dot(w < 4u ? a[r][w] : b[r][w - 4u], x0, x1, x2, x3);
        }
    }
}

// dq[r] = dot(x[group], q(4)) for each row's 128 codes, q(4) built from all four planes at once
// (mobislice_common.glsl): byte k of code_set[j] holds the code of activation 4k + j of its word.
void full_depth_dots(inout float dq[ROWS], uint idx[ROWS], uint xb, uint stride) {
    [[unroll]] for (uint h = 0u; h < 2u; ++h) {  // words 4h .. 4h + 3 of the group
        uvec4 code_set[ROWS][4];
        [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
            uint i = idx[r] + h;
            uvec4 p1 = planes[i], p2 = planes[i + stride], p3 = planes[i + 2u * stride],
                  p4 = planes[i + 3u * stride];
            uvec4 e12 = pair_even(p1, p2), o12 = pair_odd(p1, p2);
            uvec4 e34 = pair_even(p3, p4), o34 = pair_odd(p3, p4);
            code_set[r][0] = quad_low(e12, e34);
            code_set[r][1] = quad_low(o12, o34);
            code_set[r][2] = quad_high(e12, e34);
            code_set[r][3] = quad_high(o12, o34);
        }
        [[unroll]] for (uint w = 0u; w < 4u; ++w) {
            [[unroll]] for (uint k = 0u; k < 4u; ++k) {
                vec4 xk = x[xb + 4u * (4u * h + w) + k];
                [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
                    uvec4 q = uvec4(code_set[r][0][w], code_set[r][1][w], code_set[r][2][w],
                                    code_set[r][3][w]);
                    dq[r] += dot(vec4((q >> (8u * k)) & 0xFFu), xk);
                }
            }
        }
    }
}

void main() {
    uint row0 = gl_GlobalInvocationID.x * ROWS;
    if (row0 >= pc.rows) return;
    uint depth = FULL_DEPTH != 0u ? 4u : clamp(depths[pc.depth_index], 1u, 4u);
    float grid = float(1u << (2u * (depth - 1u)));  // s1 / s_k
    uint row[ROWS];
    float acc[ROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        row[r] = min(row0 + r, pc.rows - 1u);  // a last partial set recomputes the last row
        acc[r] = 0.0;
    }
    // Unrolled over the groups so x offsets are constants (the plane loop inside each group keeps
    // the basic blocks small enough for lavapipe's LLVM to compile quickly).
    UNROLL_X for (uint g = 0u; g < G; ++g) {
        uint xb = 32u * g, idx[ROWS];
        float dq[ROWS];
        [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
            idx[r] = (row[r] * G + g) * 2u;
            dq[r] = 0.0;
        }
        if (FULL_DEPTH != 0u) {
            full_depth_dots(dq, idx, xb, pc.plane_stride);
        } else {
            plane_dots(dq, idx, xb, 0.0);
            for (uint e = 1u; e < depth; ++e) {
                [[unroll]] for (uint r = 0u; r < ROWS; ++r) idx[r] += pc.plane_stride;
                plane_dots(dq, idx, xb, 4.0);
            }
        }
        vec4 s4 = vec4(0.0);  // sum of the group's activations
        [[unroll]] for (uint j = 0u; j < 32u; ++j) s4 += x[xb + j];
        float xsum = s4.x + s4.y + s4.z + s4.w;
        [[unroll]] for (uint r = 0u; r < ROWS; ++r)
            acc[r] += group_value(scale_zero[row[r] * G + g], grid, dq[r], xsum);
    }
    [[unroll]] for (uint r = 0u; r < ROWS; ++r)
        if (row0 + r < pc.rows) y[pc.y_offset + row0 + r] = acc[r] / grid;
}
