// Shared by the MoBiSlice kernels. A plane word holds 16 two-bit codes; code i sits in bits
// 2i..2i+1 and multiplies activation 4*j+i of the 16 the word covers.
#ifndef MOBISLICE_COMMON_GLSL
#define MOBISLICE_COMMON_GLSL

const uint GROUP = 128u;        // weights per group along K
const uint WORDS_PER_GROUP = 8u;

vec4 codes4(uint word, uint shift) {
    return vec4((uvec4(word) >> (uvec4(0u, 2u, 4u, 6u) + shift)) & 3u);
}

#endif
