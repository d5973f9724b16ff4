#version 450
#extension GL_GOOGLE_include_directive : require
// Causal grouped-query attention over the KV cache: one workgroup per (head, token). Query head
// h reads kv head h / (HEADS / KV_HEADS). Scores live in shared memory (CTX floats).
#include "step_params.glsl"
#include "workgroup_reduce.glsl"
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint HEADS = 1;
layout(constant_id = 1) const uint KV_HEADS = 1;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const uint Q_STRIDE = 128;  // floats per row of q and out
layout(constant_id = 4) const uint CTX = 128;       // cache capacity in positions
const uint KV_DIM = KV_HEADS * HEAD_DIM;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer KC { float kcache[]; };
layout(std430, binding = 2) readonly buffer VC { float vcache[]; };
layout(std430, binding = 3) writeonly buffer Out { float out_[]; };
STEP_PARAMS(4)
#ifdef PER_TOKEN
TOKEN_SLOTS(5)  // CTX is then one slot's capacity
#endif

shared float scores[CTX];

void main() {
    uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, lid = gl_LocalInvocationID.x;
    if (t >= step.n_tokens) return;  // uniform per workgroup
    uint kvh = h / (HEADS / KV_HEADS);
    uint n = token_position(t) + 1u;  // positions 0 .. pos
    uint row0 = token_row0(t);
    uint qbase = t * Q_STRIDE + h * HEAD_DIM;
    float scale = inversesqrt(float(HEAD_DIM));

    float local_max = -3.4e38;
    for (uint p = lid; p < n; p += WG) {
        uint kbase = (row0 + p) * KV_DIM + kvh * HEAD_DIM;
        float s = 0.0;
        for (uint d = 0u; d < HEAD_DIM; ++d) s += q[qbase + d] * kcache[kbase + d];
        s *= scale;
        scores[p] = s;
        local_max = max(local_max, s);
    }
    float m = workgroup_max(local_max);
    float local_sum = 0.0;
    for (uint p = lid; p < n; p += WG) {
        float e = exp(scores[p] - m);
        scores[p] = e;
        local_sum += e;
    }
    float total = workgroup_sum(local_sum);  // its barriers publish scores[]
    for (uint d = lid; d < HEAD_DIM; d += WG) {
        float acc = 0.0;
        for (uint p = 0u; p < n; ++p)
            acc += scores[p] * vcache[(row0 + p) * KV_DIM + kvh * HEAD_DIM + d];
        out_[qbase + d] = acc / total;
    }
}
