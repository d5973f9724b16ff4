#include "cpu/simd_target.hpp"

#include <hwy/highway.h>
#include <hwy/targets.h>

#include "core/error.hpp"

namespace mq::cpu {

std::vector<SimdTarget> simd_targets() {
    std::vector<SimdTarget> out;
    for (int64_t t : hwy::SupportedAndGeneratedTargets()) out.push_back({t, hwy::TargetName(t)});
    return out;
}

void use_simd_target(int64_t target) {
    hwy::SetSupportedTargetsForTest(0);  // the CPU's own set, to check against
    if (target != 0 && !(hwy::SupportedTargets() & HWY_TARGETS & target))
        fail("SIMD target {} is not available here", target);
    hwy::SetSupportedTargetsForTest(target);
}

std::string simd_target_name() {
    const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
    return hwy::TargetName(targets & -targets);
}

}  // namespace mq::cpu
