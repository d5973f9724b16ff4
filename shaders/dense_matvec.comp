#version 450
// y = W x for unquantized weights, one token. Same layout as the MoBiSlice mat-vec (ROWS rows per
// invocation, x in a uniform buffer) so the two are compared like for like.
// Rows of W are padded with zeros to a multiple of 128 columns.
// Variants: X_IN_SSBO when K*4 exceeds the device's uniform-buffer range; W_F16 reads weights
// stored as packed half pairs (unpackHalf2x16: no 16-bit storage feature needed, and on lavapipe
// faster than 16-bit loads, which are one scalar load per component).
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec2 w2[]; };  // 4 halves per uvec2
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
#ifdef X_IN_SSBO
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
#else
layout(std140, binding = 1) uniform X { vec4 x[KV]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint y_offset;
} pc;

#define ROWS MQ_MATVEC_ROWS_PER_LANE  // output rows per invocation (cmake/Shaders.cmake)

// The 4 weights of row `row` that multiply x[i].
vec4 weights4(uint row, uint i) {
#ifdef W_F16
    uvec2 h = w2[row * KV + i];
    return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#else
    return w[row * KV + i];
#endif
}

void main() {
    uint row0 = gl_GlobalInvocationID.x * ROWS;
    if (row0 >= pc.rows) return;
    uint row[ROWS];
    vec4 acc[ROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        row[r] = min(row0 + r, pc.rows - 1u);  // a last partial set recomputes the last row
        acc[r] = vec4(0.0);
    }
    for (uint i = 0u; i < KV; ++i) {
        vec4 xi = x[i];  // one activation load feeds ROWS rows
        [[unroll]] for (uint r = 0u; r < ROWS; ++r) acc[r] += weights4(row[r], i) * xi;
    }
    [[unroll]] for (uint r = 0u; r < ROWS; ++r)
        if (row0 + r < pc.rows) y[pc.y_offset + row0 + r] = dot(acc[r], vec4(1.0));
}
