// Sum and maximum of one value per invocation over a workgroup of WG invocations, for the
// shaders that run one workgroup per row. WG comes from cmake/Shaders.cmake
// (MQ_WORKGROUP_SIZE), which also gives the C++ dispatch sizes, and is a power of two.
#ifndef WORKGROUP_REDUCE_GLSL
#define WORKGROUP_REDUCE_GLSL

#define WG MQ_WORKGROUP_SIZE
shared float reduce_buf[WG];

// Tree reduction in shared memory; every invocation gets the result. Ends with a barrier, so
// the buffer can be reused and shared writes made before the call are visible after it.
float workgroup_reduce(float v, bool is_max) {
    uint lid = gl_LocalInvocationID.x;
    reduce_buf[lid] = v;
    barrier();
    for (uint half_ = WG / 2u; half_ > 0u; half_ >>= 1u) {
        if (lid < half_)
            reduce_buf[lid] = is_max ? max(reduce_buf[lid], reduce_buf[lid + half_])
                                     : reduce_buf[lid] + reduce_buf[lid + half_];
        barrier();
    }
    float r = reduce_buf[0];
    barrier();
    return r;
}

float workgroup_sum(float v) {
    return workgroup_reduce(v, false);
}

float workgroup_max(float v) {
    return workgroup_reduce(v, true);
}

#endif
