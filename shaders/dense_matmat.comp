#version 450
// Y[t] = W X[t] for unquantized fp32 weights and a tile of TT tokens per workgroup row: each
// weight vec4 is loaded once per tile. Rows of W and X are padded to a multiple of 128 columns.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint TT = 8;
const uint KV = ((K + 127u) / 128u) * 32u;

layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint tokens;
    uint y_offset;
    uint y_stride;
} pc;

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    uint t0 = gl_WorkGroupID.y * TT;
    uint nt = min(TT, pc.tokens - t0);
    vec4 acc[TT];
    [[unroll]] for (uint t = 0u; t < TT; ++t) acc[t] = vec4(0.0);
    uint base = row * KV;
    for (uint i = 0u; i < KV; ++i) {
        vec4 wv = w[base + i];
        [[unroll]] for (uint t = 0u; t < TT; ++t)
            if (t < nt) acc[t] += wv * x[(t0 + t) * KV + i];
    }
    [[unroll]] for (uint t = 0u; t < TT; ++t)
        if (t < nt)
            y[(t0 + t) * pc.y_stride + pc.y_offset + row] = acc[t].x + acc[t].y + acc[t].z + acc[t].w;
}
