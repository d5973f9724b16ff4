#version 450
// y = W x for unquantized weights, one token, the GPU layout: one row per subgroup, lanes
// striding along the row (coalesced reads), summed with subgroupAdd; the counterpart of
// mobislice_matvec_subgroup.comp, so the two compare like for like on a GPU.
// Variant W_F16: weights stored as packed half pairs (4 halves per uvec2).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec2 w[]; };
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
} pc;

void main() {
    uint subgroups = gl_NumWorkGroups.x * gl_NumSubgroups;
    for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < pc.rows;
         row += subgroups) {
        float acc = 0.0;
        for (uint i = gl_SubgroupInvocationID; i < KV; i += gl_SubgroupSize) {
#ifdef W_F16
            uvec2 h = w[row * KV + i];
            acc += dot(vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)), x[i]);
#else
            acc += dot(w[row * KV + i], x[i]);
#endif
        }
        float total = subgroupAdd(acc);
        if (subgroupElect()) y[pc.y_offset + row] = total;
    }
}
