// --head 8bit: the output head sliced with MoBiSlice at load and read at depth 4, against the
// C++ reference forward whose head is the same planes decoded (ModelWeights::slice_head, then
// dequantize(4)). The GPU and the reference then hold identical weights, so the fp32 forward's
// tolerance applies (kLogitTolerance below).
#include <doctest/doctest.h>

#include "forward_test_models.hpp"
#include "runtime/reference_forward.hpp"
#include "runtime/vulkan_forward.hpp"
#include "support/test_data.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;

namespace {

// Relative to the largest logit; lavapipe measures 4e-7..7e-7 (fp32 against double).
constexpr double kLogitTolerance = 1e-5;

// The reference model with its head replaced by the 8-bit head's decoded weights (an untied copy
// when the file ties the head to the embedding, which must stay exact for the lookup).
rt::ModelWeights with_decoded_head(const rt::ModelWeights& w) {
    rt::ModelWeights ref = w;
    ref.output = w.slice_head().dequantize(quant::kSlices);
    ref.desc.tied_output = false;
    return ref;
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "8-bit head: Vulkan logits match the reference with that head") {
    for (const auto& spec : architectures()) {
        CAPTURE(spec.arch);
        CAPTURE(spec.tied);
        rt::ModelWeights w = tiny_weights(spec);
        auto ids = prompt_ids(20, w.desc.vocab_size);
        auto exact = flatten(rt::ReferenceForward(w, 64).prefill(ids, 0, {}));
        auto expected = flatten(rt::ReferenceForward(with_decoded_head(w), 64).prefill(ids, 0, {}));
        uint64_t dense_bytes = rt::VulkanForward(ctx, w, {.max_context = 64, .max_batch = 7})
                                   .weight_bytes_per_token(0);
        for (uint32_t batch : {1u, 7u}) {  // the mat-vec (decode) and mat-mat (prefill) paths
            CAPTURE(batch);
            rt::VulkanForward fwd(ctx, w,
                                  {.max_context = 64, .max_batch = batch, .head_8bit = true});
            auto got = fwd.forward(ids, 0, {}, true);
            double err = relative_error(got, expected);
            MESSAGE(spec.file_name() << " batch " << batch << ": 8-bit head logits error " << err
                                     << ", against the fp32 head " << relative_error(got, exact));
            CHECK(err < kLogitTolerance);
            // The head really is 8-bit: quantization shows against the fp32 head ...
            CHECK(relative_error(got, exact) > 10 * err);
            // ... but stays small (8 bits: about 1/255 of a group's range per weight).
            CHECK(relative_error(got, exact) < 2e-2);
            // Bytes per token count the head as its four planes (1 byte per padded weight)
            // and an fp16 scale and zero per 128 weights, in place of 4 bytes per weight.
            const ModelDesc& d = w.desc;
            uint64_t groups = (d.dim + 127) / 128;
            uint64_t head_8bit = uint64_t(d.vocab_size) * groups * (128 + 4);
            CHECK(dense_bytes - fwd.weight_bytes_per_token(0) ==
                  uint64_t(d.vocab_size) * d.dim * 4 - head_8bit);
        }
    }
}
