#pragma once
// Runs one plan on the GPU and reads the result back, for the kernel tests.
#include <vector>

#include "core/error.hpp"
#include "kernels/matmul_ops.hpp"
#include "support/vulkan_fixture.hpp"
#include "vulkan/command_sequence.hpp"

namespace mq::test {

// tokens x cols activations laid out as the kernels expect: padded rows, zero tail.
inline vk::Buffer upload_activations(vk::Context& ctx, const std::vector<float>& x, uint32_t tokens,
                                     uint32_t cols) {
    uint32_t padded = kernels::padded_width(cols);
    std::vector<float> p(uint64_t(tokens) * padded, 0.0f);
    for (uint32_t t = 0; t < tokens; ++t)
        std::copy(x.begin() + uint64_t(t) * cols, x.begin() + uint64_t(t + 1) * cols,
                  p.begin() + uint64_t(t) * padded);
    vk::Buffer b(ctx, p.size() * 4);
    b.upload(p.data(), p.size() * 4);
    return b;
}

inline vk::Buffer upload_u32(vk::Context& ctx, const std::vector<uint32_t>& v) {
    vk::Buffer b(ctx, v.size() * 4);
    b.upload(v.data(), v.size() * 4);
    return b;
}

inline void run_plan(vk::Context& ctx, const kernels::Plan& plan) {
    vk::CommandSequence seq(ctx);
    seq.begin();
    plan.record(seq);
    seq.end();
    seq.submit();
}

}  // namespace mq::test
