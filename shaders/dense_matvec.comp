#version 450
// y = W x for unquantized weights, one token. Same layout as the MoBiSlice mat-vec (one row per
// invocation, x in a uniform buffer) so the two are compared like for like.
// Rows of W are padded with zeros to a multiple of 128 columns.
// Variants: X_IN_SSBO when K*4 exceeds the device's uniform-buffer range; W_F16 reads weights
// stored as packed half pairs (unpackHalf2x16: no 16-bit storage feature needed, and on lavapipe
// faster than 16-bit loads, which are one scalar load per component).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint K = 128;
const uint KV = ((K + 127u) / 128u) * 32u;  // vec4s per padded row

#ifdef W_F16
layout(std430, binding = 0) readonly buffer W { uvec4 w[]; };  // 8 halves per uvec4
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

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= pc.rows) return;
    vec4 acc = vec4(0.0);
#ifdef W_F16
    uint base = row * (KV / 2u);
    for (uint i = 0u; i < KV; i += 4u) {
        uvec4 a = w[base + i / 2u], b = w[base + i / 2u + 1u];
        acc += vec4(unpackHalf2x16(a.x), unpackHalf2x16(a.y)) * x[i] +
               vec4(unpackHalf2x16(a.z), unpackHalf2x16(a.w)) * x[i + 1u] +
               vec4(unpackHalf2x16(b.x), unpackHalf2x16(b.y)) * x[i + 2u] +
               vec4(unpackHalf2x16(b.z), unpackHalf2x16(b.w)) * x[i + 3u];
    }
#else
    uint base = row * KV;
    for (uint i = 0u; i < KV; i += 4u) {
        acc += w[base + i] * x[i] + w[base + i + 1u] * x[i + 1u] + w[base + i + 2u] * x[i + 2u] +
               w[base + i + 3u] * x[i + 3u];
    }
#endif
    y[pc.y_offset + row] = acc.x + acc.y + acc.z + acc.w;
}
