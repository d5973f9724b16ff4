#pragma once
// What the forward tests of every backend check alike: logits against the C++ reference forward
// on the tiny models of forward_test_models.hpp, and the mixed depths they run.
#include <doctest/doctest.h>

#include <vector>

#include "forward_test_models.hpp"
#include "runtime/forward_factory.hpp"
#include "runtime/reference_forward.hpp"
#include "support/test_data.hpp"

namespace mq::test {

// A different depth (1..4) per token, layer and linear.
inline std::vector<rt::TokenDepths> mixed_depths(uint32_t tokens, uint32_t layers) {
    std::vector<rt::TokenDepths> depths;
    for (uint32_t t = 0; t < tokens; ++t) {
        rt::TokenDepths d(layers);
        for (uint32_t l = 0; l < layers; ++l)
            for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) d[l][j] = 1 + (t + 2 * l + j) % 4;
        depths.push_back(d);
    }
    return depths;
}

// An unquantized tiny model, a 20-token prompt and the reference forward's logits of every token.
struct DenseReference {
    rt::ModelWeights weights;
    std::vector<uint32_t> ids;
    std::vector<float> logits;
};

inline DenseReference dense_reference(const TinyModelSpec& spec) {
    DenseReference r;
    r.weights = tiny_weights(spec);
    r.ids = prompt_ids(20, r.weights.desc.vocab_size);
    r.logits = flatten(rt::ReferenceForward(r.weights, 64).prefill(r.ids, 0, {}));
    return r;
}

// The unquantized logits of every architecture's dense_reference prompt, from the device's
// forward at batch sizes 1 (decode only), 7 (ragged batches) and 32 (one batch): each within
// tolerance of the reference, relative to the largest logit.
inline void check_dense_logits_match_reference(const rt::ComputeDevice& device, double tolerance) {
    for (const auto& spec : architectures()) {
        CAPTURE(spec.arch);
        CAPTURE(spec.tied);
        const auto [w, ids, expected] = dense_reference(spec);
        for (uint32_t batch : {1u, 7u, 32u}) {
            CAPTURE(batch);
            auto fwd = rt::make_forward(device, w, {.max_context = 64, .max_batch = batch});
            const double err = relative_error(fwd->forward(ids, 0, {}, true), expected);
            MESSAGE(spec.file_name() << " batch " << batch << ": logits error " << err);
            CHECK(err < tolerance);
        }
    }
}

}  // namespace mq::test
