#pragma once
// Round-to-nearest b-bit group quantization with its own clipping search: the quality table's
// "bit-specific" baseline (docs/design.md section 6), calibrated separately for each width. Per row
// and group of 128 along K, asymmetric: w' = s (q - z), q = clamp(round(w/s + z), 0, 2^b - 1),
// with s and z (fp16, as stored) chosen among the same clip ratios MoBiSlice searches, to
// minimize the E[x^2]-weighted error at exactly b bits.
#include <cstdint>
#include <span>
#include <vector>

namespace mq::quant {

// Returns the dequantized weights (rows x cols), what a b-bit kernel would compute with.
std::vector<float> rtn_quantize(std::span<const float> weights, uint32_t rows, uint32_t cols,
                                uint32_t bits, std::span<const float> channel_importance = {},
                                uint32_t clip_steps = 8, float min_clip = 0.6f);

}  // namespace mq::quant
