#version 450
// Streaming-read bandwidth probe: each invocation XORs its own contiguous run of PER_THREAD
// uvec4s and writes one word so nothing is elided. The run length is a specialization constant:
// lavapipe runs a loop with a constant trip count several times faster than a data-dependent one.
// The bound range is a whole number of runs (the host sizes it so).
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint PER_THREAD = 256;
layout(std430, binding = 0) readonly buffer Data { uvec4 data[]; };
layout(std430, binding = 1) writeonly buffer Out { uint result[]; };

void main() {
    uint begin = gl_GlobalInvocationID.x * PER_THREAD;
    uvec4 acc = uvec4(0u);
    for (uint i = 0u; i < PER_THREAD; ++i) acc += data[begin + i];
    result[gl_GlobalInvocationID.x] = acc.x + acc.y + acc.z + acc.w;
}
