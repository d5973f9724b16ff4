// The Vulkan forward against the C++ reference forward, on small random models of every
// supported architecture written to GGUF by the test. Tolerance: logits within 1e-3 of the
// largest reference logit (fp32 GPU against double-accumulating reference).
#include <doctest/doctest.h>

#include "forward_checks.hpp"
#include "runtime/reference_forward.hpp"
#include "runtime/vulkan_forward.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;

namespace {
// Relative to the largest logit; lavapipe measures 4e-7..2e-6 (fp32 against double).
constexpr double kLogitTolerance = 2e-5;
}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "Vulkan logits match the reference for every architecture") {
    check_dense_logits_match_reference(ctx, kLogitTolerance);
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "greedy decoding gives the same tokens as the reference for 64 steps") {
    for (const auto& spec : architectures()) {
        CAPTURE(spec.arch);
        rt::ModelWeights w = tiny_weights(spec);
        rt::ReferenceForward ref(w, 128);
        rt::VulkanForward fwd(ctx, w, {.max_context = 128, .max_batch = 8});
        auto ids = prompt_ids(5, w.desc.vocab_size);
        auto ref_logits = ref.prefill(ids, 0, {}).back();
        auto gpu_logits = fwd.forward(ids, 0, {});
        uint32_t pos = static_cast<uint32_t>(ids.size());
        for (int step = 0; step < 64; ++step, ++pos) {
            uint32_t a = argmax(ref_logits), b = argmax(gpu_logits);
            REQUIRE_MESSAGE(a == b, "step " << step);
            ref_logits = ref.step(a, pos, {});
            gpu_logits = fwd.forward(std::span<const uint32_t>(&a, 1), pos, {});
        }
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "MoBiSlice depths on the GPU match the reference, mixed per token and linear") {
    TinyModelSpec spec;
    spec.dim = 128;  // one full group per row
    rt::ModelWeights w = tiny_weights(spec);
    w.slice_all();
    auto ids = prompt_ids(12, w.desc.vocab_size);
    auto depths = mixed_depths(uint32_t(ids.size()), w.desc.n_layers);
    rt::ReferenceForward ref(w, 64);
    auto expected = flatten(ref.prefill(ids, 0, depths));
    for (uint32_t batch : {1u, 5u}) {
        rt::VulkanForward fwd(ctx, w, {.max_context = 64, .max_batch = batch});
        REQUIRE(fwd.quantized());
        const double err = relative_error(fwd.forward(ids, 0, depths, true), expected);
        MESSAGE("mixed depths, batch " << batch << ": logits error " << err);
        CHECK(err < kLogitTolerance);
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "uniform depth 4 (8 bits) stays close to the unquantized model") {
    TinyModelSpec spec;
    rt::ModelWeights w = tiny_weights(spec);
    auto ids = prompt_ids(16, w.desc.vocab_size);
    std::vector<float> dense;
    {
        rt::VulkanForward fwd(ctx, w, {.max_context = 64});
        dense = fwd.forward(ids, 0, {}, true);
    }
    w.slice_all();
    rt::VulkanForward fwd(ctx, w, {.max_context = 64});
    double err[5] = {};
    const uint32_t vocab = w.desc.vocab_size;
    for (uint8_t depth = 1; depth <= 4; ++depth) {
        std::vector<rt::TokenDepths> d(ids.size(), rt::uniform_depths(w.desc.n_layers, depth));
        auto logits = fwd.forward(ids, 0, d, true);
        err[depth] = relative_error(logits, dense);
        MESSAGE("depth " << int(depth) << ": logits relative error " << err[depth]);
        if (depth == 4) {  // 8 bits: the same next token nearly everywhere
            size_t same = 0;
            for (size_t t = 0; t < ids.size(); ++t)
                same += argmax(std::span(logits).subspan(t * vocab, vocab)) ==
                        argmax(std::span(dense).subspan(t * vocab, vocab));
            CHECK(same >= ids.size() - 1);
        }
    }
    CHECK(err[4] < 0.05);
    CHECK(err[4] < err[3]);
    CHECK(err[3] < err[2]);
    CHECK(err[2] < err[1]);
}

TEST_CASE_FIXTURE(VulkanFixture, "a prompt past the context, or a bad token id, is a clear error") {
    rt::ModelWeights w = tiny_weights({});
    rt::VulkanForward fwd(ctx, w, {.max_context = 64});
    auto ids = prompt_ids(65, w.desc.vocab_size);
    CHECK_THROWS_WITH_AS(fwd.forward(ids, 0, {}), doctest::Contains("context"), mq::Error);
    std::vector<uint32_t> bad{w.desc.vocab_size};
    CHECK_THROWS_WITH_AS(fwd.forward(bad, 0, {}), doctest::Contains("vocabulary"), mq::Error);
}
