#version 450
// out[t] = silu(gate[t]) * up[t], in place over the gate rows.
layout(local_size_x = MQ_WORKGROUP_SIZE) in;  // cmake/Shaders.cmake
layout(constant_id = 0) const uint FFN = 64;
layout(constant_id = 1) const uint STRIDE = 128;
layout(std430, binding = 0) buffer Gate { float gate[]; };
layout(std430, binding = 1) readonly buffer Up { float up[]; };
layout(push_constant) uniform Push { uint n_tokens; } pc;

void main() {
    uint i = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.y;
    if (i >= FFN || t >= pc.n_tokens) return;
    uint j = t * STRIDE + i;
    float g = gate[j];
    gate[j] = g / (1.0 + exp(-g)) * up[j];
}
