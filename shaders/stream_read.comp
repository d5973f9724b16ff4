#version 450
// Streaming-read bandwidth probe: each workgroup XORs a contiguous block of the buffer (lanes
// interleaved, so GPU loads coalesce) and writes one word per invocation so nothing is elided.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Data { uvec4 data[]; };
layout(std430, binding = 1) writeonly buffer Out { uint result[]; };
layout(push_constant) uniform Push {
    uint count;      // uvec4s in the bound range
    uint per_group;  // uvec4s per workgroup
} pc;

void main() {
    uint begin = gl_WorkGroupID.x * pc.per_group;
    uint end = min(begin + pc.per_group, pc.count);
    uvec4 acc = uvec4(0u);
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) acc ^= data[i];
    result[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
