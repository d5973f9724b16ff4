#version 450
// y = W(k) x for one token, the GPU layout: one row per subgroup, its lanes striding along the
// row's plane words, so a subgroup reads consecutive words of each plane (coalesced) and the
// row is summed with subgroupAdd. The row-per-lane kernel (mobislice_matvec.comp) suits CPU
// drivers, where every lane is a SIMD slot and a storage load is a per-lane loop; on a GPU its
// lanes would read rows far apart. Work and bytes per weight follow the depth (a loop over the
// row's k planes, combined by Horner's rule as in the row-per-lane kernel). Rows are visited in
// a grid-stride loop over subgroups, so the host need not know the subgroup size the driver
// picks.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "mobislice_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;  // input features (columns)
const uint G = (K + GROUP - 1u) / GROUP;
const uint ROW_WORDS = G * WORDS_PER_GROUP;  // plane words per row

// Planes 1-4 of this row chunk, one after the other, plane_stride uvec4s apart.
layout(std430, binding = 0) readonly buffer Planes { uint planes[]; };
layout(std430, binding = 1) readonly buffer ScaleZero { uint scale_zero[]; };  // half2(s1, z1)
layout(std430, binding = 2) readonly buffer X { vec4 x[]; };                    // zero beyond K
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) readonly buffer Depths { uint depths[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
    uint depth_index;
    uint plane_stride;  // uvec4s between planes
} pc;

void main() {
    uint depth = clamp(depths[pc.depth_index], 1u, 4u);
    float grid = float(1u << (2u * (depth - 1u)));  // s1 / s_k
    uint plane_words = 4u * pc.plane_stride;
    uint subgroups = gl_NumWorkGroups.x * gl_NumSubgroups;
    for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < pc.rows;
         row += subgroups) {
        float acc = 0.0;
        for (uint w = gl_SubgroupInvocationID; w < ROW_WORDS; w += gl_SubgroupSize) {
            // Word w holds codes of activations 16w .. 16w+15, all in group w / 8.
            vec4 x0 = x[4u * w], x1 = x[4u * w + 1u], x2 = x[4u * w + 2u], x3 = x[4u * w + 3u];
            uint i = row * ROW_WORDS + w;
            float dq = 0.0;
            for (uint e = 0u; e < depth; ++e, i += plane_words) {
                uint q = planes[i];
                dq = 4.0 * dq + dot(codes4(q, 0u), x0) + dot(codes4(q, 8u), x1) +
                     dot(codes4(q, 16u), x2) + dot(codes4(q, 24u), x3);
            }
            // The zero-point term is linear in the activations: each lane subtracts its share.
            vec2 sz = unpackHalf2x16(scale_zero[row * G + w / WORDS_PER_GROUP]);
            acc += sz.x * (dq - (sz.y * grid - 0.5) * dot(x0 + x1 + x2 + x3, vec4(1.0)));
        }
        float total = subgroupAdd(acc);
        if (subgroupElect()) y[pc.y_offset + row] = total / grid;
    }
}
