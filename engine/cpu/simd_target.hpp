#pragma once
// Which SIMD level the CPU kernels run at (Highway's dynamic dispatch picks the best one this CPU
// supports); tests and benchmarks can pin another.
#include <cstdint>
#include <string>
#include <vector>

namespace mq::cpu {

struct SimdTarget {
    int64_t bits = 0;  // Highway's target bit
    std::string name;  // "AVX3_DL", "AVX2", ...
};

// Compiled into the kernels and supported by this CPU, best first.
std::vector<SimdTarget> simd_targets();
// Runs the kernels at `target` from now on (0: the best one again).
void use_simd_target(int64_t target);
// The level the kernels run at now.
std::string simd_target_name();

}  // namespace mq::cpu
