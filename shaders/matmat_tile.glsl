// The token tile of a mat-mat, read through two uniform bindings: tokens 0..TA-1 from the first
// and TA..TT-1 from the second. A CPU driver's uniform range (64 KiB on lavapipe) holds only 2
// token rows of K = 8192, so a tile of 4 takes two bindings; where one binding holds the tile, TA
// = TT and the second is bound to the same range and never read. Where a token's row sits does
// not change the order of its sums. Includers define X_BINDING, X2_BINDING, TT and XV (vec4s
// per token row) first.
#ifndef MATMAT_TILE_GLSL
#define MATMAT_TILE_GLSL

layout(constant_id = 3) const uint TA = 16;  // tile tokens in the first binding
const uint TB = TT > TA ? TT - TA : 1u;      // in the second (at least 1: an array size)

layout(std140, binding = X_BINDING) uniform X { vec4 x_first[TA * XV]; };
layout(std140, binding = X2_BINDING) uniform X2 { vec4 x_second[TB * XV]; };

// vec4 i of tile token t's row (t is an unrolled constant: the branch folds away).
vec4 x_tile(uint t, uint i) {
    if (t < TA) return x_first[t * XV + i];
    return x_second[(t - TA) * XV + i];
}

#endif
