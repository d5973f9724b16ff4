// Shared by the MoBiSlice kernels. A plane word holds 16 two-bit codes; code i sits in bits
// 2i..2i+1 and multiplies activation 4*j+i of the 16 the word covers.
#ifndef MOBISLICE_COMMON_GLSL
#define MOBISLICE_COMMON_GLSL

const uint GROUP = 128u;        // weights per group along K
const uint WORDS_PER_GROUP = 8u;

vec4 codes4(uint word, uint shift) {
    return vec4((uvec4(word) >> (uvec4(0u, 2u, 4u, 6u) + shift)) & 3u);
}

// dot(x, codes) over the 16 codes of one plane word; x0..x3 are the 16 activations it covers.
// A group at depth k accumulates these plane by plane (Horner): dq = 4 dq + word_dot(...).
float word_dot(uint word, vec4 x0, vec4 x1, vec4 x2, vec4 x3) {
    return dot(codes4(word, 0u), x0) + dot(codes4(word, 8u), x1) + dot(codes4(word, 16u), x2) +
           dot(codes4(word, 24u), x3);
}

// A group's contribution to y, times grid = s1 / s_k = 4^(k-1): s1 (dq - z'_k xsum) with
// z'_k = 4^(k-1) z1 - 1/2, where dq = dot(x, q(k)) and xsum = sum(x) over the group's inputs
// and scale_zero packs (s1, z1) as half2.
float group_value(uint scale_zero, float grid, float dq, float xsum) {
    vec2 sz = unpackHalf2x16(scale_zero);
    return sz.x * (dq - (sz.y * grid - 0.5) * xsum);
}

// Full depth without a pass per plane: the four plane words of 16 codes combine into four words
// of 8-bit codes q(4) = c1 c2 c3 c4 (base 4) by masks and shifts, two operations per weight.
// pair_*: nibble j = c_a * 4 + c_b for code 2j (even) or 2j + 1 (odd) of planes a and b.
// quad_*: byte k = the nibbles 2k (low) or 2k + 1 (high) of hi and lo as one 8-bit code.
const uint EVEN_CODES = 0x33333333u, LOW_NIBBLES = 0x0F0F0F0Fu;
const uint PLANE_CODES = 0x03030303u;  // the code in the low two bits of each byte
uvec4 pair_even(uvec4 a, uvec4 b) {
    return ((a & EVEN_CODES) << 2u) | (b & EVEN_CODES);
}
uvec4 pair_odd(uvec4 a, uvec4 b) {
    return (a & (EVEN_CODES << 2u)) | ((b >> 2u) & EVEN_CODES);
}
uvec4 quad_low(uvec4 hi, uvec4 lo) {
    return ((hi & LOW_NIBBLES) << 4u) | (lo & LOW_NIBBLES);
}
uvec4 quad_high(uvec4 hi, uvec4 lo) {
    return (hi & ~LOW_NIBBLES) | ((lo >> 4u) & LOW_NIBBLES);
}

#endif
