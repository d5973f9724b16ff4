#version 450
// x[t] += y[t] (residual) or, with BROADCAST = 1, x[t] += y (a bias row).
layout(local_size_x = MQ_WORKGROUP_SIZE) in;  // cmake/Shaders.cmake
layout(constant_id = 0) const uint WIDTH = 64;
layout(constant_id = 1) const uint STRIDE = 128;
layout(constant_id = 2) const uint BROADCAST = 0;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n_tokens; } pc;

void main() {
    uint i = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.y;
    if (i >= WIDTH || t >= pc.n_tokens) return;
    x[t * STRIDE + i] += BROADCAST != 0u ? y[i] : y[t * STRIDE + i];
}
