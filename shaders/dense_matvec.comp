#version 450
// y = W x for unquantized fp32 weights, one token. Same layout as the MoBiSlice mat-vec (one
// row per invocation, x in a uniform buffer) so the two are compared like for like.
// Rows of W are padded with zeros to a multiple of 128 columns.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
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

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    uint base = row * KV;
    vec4 acc = vec4(0.0);
    for (uint i = 0u; i < KV; i += 4u) {
        acc += w[base + i] * x[i] + w[base + i + 1u] * x[i + 1u] + w[base + i + 2u] * x[i + 2u] +
               w[base + i + 3u] * x[i + 3u];
    }
    y[pc.y_offset + row] = acc.x + acc.y + acc.z + acc.w;
}
