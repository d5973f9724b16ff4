#pragma once
// IEEE half and bfloat16 <-> float conversions (round to nearest even).
#include <cstdint>

namespace mq {

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

}  // namespace mq
