#version 450
// y = W(k) x for one token, the GPU layout: each subgroup computes SUBGROUP_ROWS rows at once,
// its lanes striding along the rows by 16-byte loads (uvec4: 64 codes, half a group, of one
// plane). A lane loads the 64 activations of its chunk once and uses them for every row and
// plane it reads, so activation traffic per weight byte falls by SUBGROUP_ROWS x depth against
// a row at a time; plane reads of neighbouring lanes are consecutive (coalesced). Rows are
// summed with subgroupAdd. The row-per-lane kernel (mobislice_matvec.comp) suits CPU drivers,
// where every lane is a SIMD slot and a storage load is a per-lane loop. Work and bytes per
// weight follow the depth (a loop over the row's k planes, combined by Horner's rule). Row
// blocks are visited in a grid-stride loop over subgroups, so the host need not know the
// subgroup size the driver picks.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "mobislice_common.glsl"

#define R MQ_MATVEC_ROWS_PER_SUBGROUP  // rows per subgroup (cmake/Shaders.cmake)

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;  // input features (columns)
const uint G = (K + GROUP - 1u) / GROUP;
const uint ROW_CHUNKS = G * 2u;  // uvec4 chunks (64 codes) per row and plane

// Planes 1-4 of this row chunk, one after the other, plane_stride uvec4s apart.
layout(std430, binding = 0) readonly buffer Planes { uvec4 planes[]; };
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
    uint subgroups = gl_NumWorkGroups.x * gl_NumSubgroups;
    for (uint block = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; block * R < pc.rows;
         block += subgroups) {
        uint row0 = block * R;
        float acc[R];
        for (uint r = 0u; r < R; ++r) acc[r] = 0.0;
        for (uint c = gl_SubgroupInvocationID; c < ROW_CHUNKS; c += gl_SubgroupSize) {
            // Chunk c: plane words 4c .. 4c+3, activations 64c .. 64c+63, all in group c / 2.
            vec4 xs[16];
            vec4 xsum = vec4(0.0);
            for (uint i = 0u; i < 16u; ++i) {
                xs[i] = x[16u * c + i];
                xsum += xs[i];
            }
            float sum_x = dot(xsum, vec4(1.0));
            for (uint r = 0u; r < R; ++r) {
                uint row = row0 + r;
                if (row >= pc.rows) break;
                uint i = row * ROW_CHUNKS + c;
                float dq = 0.0;
                for (uint e = 0u; e < depth; ++e, i += pc.plane_stride) {
                    uvec4 q = planes[i];
                    dq = 4.0 * dq + word_dot(q.x, xs[0], xs[1], xs[2], xs[3]) +
                         word_dot(q.y, xs[4], xs[5], xs[6], xs[7]) +
                         word_dot(q.z, xs[8], xs[9], xs[10], xs[11]) +
                         word_dot(q.w, xs[12], xs[13], xs[14], xs[15]);
                }
                // The zero-point term is linear in the activations: each lane its share.
                acc[r] += group_value(scale_zero[row * G + c / 2u], grid, dq, sum_x);
            }
        }
        for (uint r = 0u; r < R; ++r) {
            float total = subgroupAdd(acc[r]);
            if (subgroupElect() && row0 + r < pc.rows) y[pc.y_offset + row0 + r] = total / grid;
        }
    }
}
