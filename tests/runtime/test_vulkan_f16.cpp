// --weights f16: the Vulkan forward with the unquantized linears and the output head converted
// from the file's fp32 to fp16 on upload, against the fp32 C++ reference forward.
//
// Tolerance: fp16 keeps 11 significant bits (unit roundoff 2^-11 ~ 4.9e-4 per weight). The
// rounding errors are independent across a dot product, so each output carries a relative error
// of about that size, and two layers, the head and the norms amplify it a few times. Logits are
// required within 5e-3 of the largest reference logit (measured on lavapipe: 0.8-1.1e-3 on these
// models, against ~1e-6 for fp32 weights), tight enough to catch a wrong conversion (a dropped
// half, swapped halves or a bad exponent give errors of order 1).
#include <doctest/doctest.h>

#include <cmath>

#include "forward_checks.hpp"
#include "runtime/reference_forward.hpp"
#include "runtime/vulkan_forward.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;

namespace {

constexpr double kF16LogitTolerance = 5e-3;

rt::ForwardOptions f16_options(uint32_t max_context, uint32_t max_batch) {
    rt::ForwardOptions o;
    o.max_context = max_context;
    o.max_batch = max_batch;
    o.dense_format = kernels::WeightFormat::F16;
    return o;
}

// Largest logit minus the runner-up.
double top2_margin(const std::vector<float>& logits) {
    float first = -INFINITY, second = -INFINITY;
    for (float v : logits) {
        if (v > first) {
            second = first;
            first = v;
        } else if (v > second) {
            second = v;
        }
    }
    return double(first) - second;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, std::fabs(double(x)));
    return m;
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "fp16 weights: Vulkan logits match the fp32 reference") {
    for (const auto& spec : architectures()) {  // all store their weights as F32 in the GGUF
        CAPTURE(spec.arch);
        CAPTURE(spec.tied);
        const auto [w, ids, expected] = dense_reference(spec);
        std::vector<float> fp32;
        uint64_t fp32_bytes = 0;
        {
            rt::VulkanForward fwd(ctx, w, {.max_context = 64, .max_batch = 7});
            fp32 = fwd.forward(ids, 0, {}, true);
            fp32_bytes = fwd.weight_bytes_per_token(0);
        }
        for (uint32_t batch : {1u, 7u}) {
            CAPTURE(batch);
            rt::VulkanForward fwd(ctx, w, f16_options(64, batch));
            CHECK(fwd.weight_bytes_per_token(0) * 10 < fp32_bytes * 6);  // about half the bytes
            auto got = fwd.forward(ids, 0, {}, true);
            double err = relative_error(got, expected);
            MESSAGE(spec.file_name()
                    << " batch " << batch << ": fp16 logits relative error " << err);
            CHECK(err < kF16LogitTolerance);
            // The conversion really happened: fp16 rounding shows, unlike the fp32 forward.
            CHECK(relative_error(got, expected) > relative_error(fp32, expected));
        }
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "fp16 weights: greedy tokens equal the reference wherever the margin allows") {
    constexpr int kSteps = 32;
    for (const auto& spec : architectures()) {
        CAPTURE(spec.arch);
        rt::ModelWeights w = tiny_weights(spec);
        rt::ReferenceForward ref(w, 128);
        rt::VulkanForward fwd(ctx, w, f16_options(128, 8));
        auto ids = prompt_ids(5, w.desc.vocab_size);
        auto ref_logits = ref.prefill(ids, 0, {}).back();
        auto gpu_logits = fwd.forward(ids, 0, {});
        uint32_t pos = static_cast<uint32_t>(ids.size());
        int checked = 0, same = 0;
        for (int step = 0; step < kSteps; ++step, ++pos) {
            uint32_t a = argmax(ref_logits), b = argmax(gpu_logits);
            same += a == b;
            // The GPU may only pick another token when the reference's top two are closer than
            // twice the error bound; everywhere else the tokens must agree.
            if (top2_margin(ref_logits) > 2 * kF16LogitTolerance * max_abs(ref_logits)) {
                ++checked;
                CHECK_MESSAGE(a == b, "step " << step);
            }
            // Both continue with the reference's token, so one near-tie does not end the test.
            ref_logits = ref.step(a, pos, {});
            gpu_logits = fwd.forward(std::span<const uint32_t>(&a, 1), pos, {});
        }
        MESSAGE(spec.file_name() << ": " << same << "/" << kSteps << " greedy tokens equal, "
                                 << checked << " steps had a margin above the bound");
        CHECK(checked >= kSteps / 2);  // the comparison covered most steps
    }
}
