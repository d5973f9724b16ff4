#version 450
// x[t] = token_embd[tokens[t]] for the tokens of a step. The embedding may be bound in row
// ranges (rows row0 .. row0+rows-1 of it); each range writes the tokens that fall inside it.
layout(local_size_x = MQ_WORKGROUP_SIZE) in;  // cmake/Shaders.cmake
layout(constant_id = 0) const uint DIM = 64;
layout(constant_id = 1) const uint E_STRIDE = 128;  // floats per embedding row (padded)
layout(constant_id = 2) const uint X_STRIDE = 128;  // floats per activation row (padded)
layout(std430, binding = 0) readonly buffer E { float emb[]; };
layout(std430, binding = 1) readonly buffer Tokens { uint tokens[]; };
layout(std430, binding = 2) writeonly buffer X { float x[]; };
layout(push_constant) uniform Push { uint n_tokens; uint row0; uint rows; } pc;

void main() {
    uint i = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.y;
    if (i >= DIM || t >= pc.n_tokens) return;
    uint tok = tokens[t];
    if (tok < pc.row0 || tok >= pc.row0 + pc.rows) return;
    x[t * X_STRIDE + i] = emb[(tok - pc.row0) * E_STRIDE + i];
}
