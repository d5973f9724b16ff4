// The what-if view's computation on the shipped checkpoint: one position re-run at depths 1-4
// and at the routed depths, from the KV cache of its prefix, without changing the conversation.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/error.hpp"
#include "runtime/generator.hpp"
#include "runtime/whatif.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {
const fs::path kAssets = fs::path(MQ_SOURCE_DIR) / "assets";

rt::SamplerOptions greedy() {
    rt::SamplerOptions s;
    s.temperature = 0;
    s.repetition_penalty = 1;
    return s;
}
}  // namespace

TEST_CASE_FIXTURE(VulkanFixture,
                  "what-if: five rows from the prefix's cache, KL(depth 4) = 0, KL(depth 1) > 0") {
    rt::ModelSession session(ctx, kAssets / "default-mobiquant.gguf", {.context = 256});
    rt::Generator gen(session, rt::DepthPolicy::budget(4.5f));
    auto prompt = session.tokenizer().encode("It is a truth universally acknowledged", {});
    std::vector<uint32_t> seq(prompt.begin(), prompt.end());
    std::vector<float> logprobs;
    gen.generate(prompt, 10, greedy(), [&](const rt::TokenEvent& ev) {
        seq.push_back(ev.id);
        logprobs.push_back(ev.logprob);
    });
    REQUIRE(seq.size() == prompt.size() + 10);

    const uint32_t at = static_cast<uint32_t>(prompt.size() + 4);  // the fifth generated token
    rt::WhatIfResult w = rt::what_if(gen, seq, at);
    REQUIRE(w.rows.size() == 5);
    CHECK(w.at == at);
    CHECK(w.actual == seq[at]);
    for (int d = 0; d < 4; ++d) CHECK(w.rows[d].bits == doctest::Approx(2.0 * (d + 1)));
    CHECK(w.rows[4].bits > 2.0f);
    CHECK(w.rows[4].bits < 8.0f);
    CHECK(w.rows[3].kl == 0.0);
    CHECK(w.rows[0].kl > 0.0);
    MESSAGE("KL from depth 4: " << w.rows[0].kl << ", " << w.rows[1].kl << ", " << w.rows[2].kl
                                << "; routed " << w.rows[4].kl << " at " << w.rows[4].bits
                                << " bits");
    for (const auto& row : w.rows) {
        REQUIRE(row.top.size() == 5);
        float sum = 0;
        for (size_t i = 0; i < row.top.size(); ++i) {
            sum += row.top[i].prob;
            if (i) CHECK(row.top[i].prob <= row.top[i - 1].prob);
        }
        CHECK(sum <= 1.0001f);
    }
    // The routed row is the step that generated the token: same cache, same depths, same
    // distribution, so its greedy choice is the token and its probability the one reported.
    CHECK(w.rows[4].top[0].id == seq[at]);
    CHECK(std::log(w.rows[4].actual_prob) ==
          doctest::Approx(logprobs[at - prompt.size()]).epsilon(1e-4));

    // The conversation goes on: the cache was cut where the what-if wrote, and the next turn
    // feeds it again.
    CHECK(gen.cached_tokens().size() == at - 1);
    std::vector<int32_t> next(seq.begin(), seq.end());
    auto stats = gen.generate(next, 2, greedy(), [](const rt::TokenEvent&) {});
    CHECK(stats.reused_tokens == at - 1);
    CHECK(stats.generated == 2);
}

TEST_CASE_FIXTURE(VulkanFixture, "what-if: bad positions and unquantized models are refused") {
    rt::ModelSession session(ctx, kAssets / "default-mobiquant.gguf", {.context = 64});
    rt::Generator gen(session, rt::DepthPolicy::budget(4.0f));
    std::vector<uint32_t> seq{1, 100, 200, 300};
    CHECK_THROWS_WITH_AS(rt::what_if(gen, seq, 0), doctest::Contains("outside the sequence"),
                         Error);
    CHECK_THROWS_WITH_AS(rt::what_if(gen, seq, 5), doctest::Contains("outside the sequence"),
                         Error);
    CHECK(rt::what_if(gen, seq, 4).actual == -1);  // the next token, not generated yet

    rt::ModelSession plain(ctx, kAssets / "default-model.gguf", {.context = 64});
    rt::Generator plain_gen(plain, rt::DepthPolicy::uniform(4));
    CHECK_THROWS_WITH_AS(rt::what_if(plain_gen, seq, 2), doctest::Contains("sliced weights"),
                         Error);
}

TEST_CASE("what-if: KL divergence of logits") {
    std::vector<float> p{1.0f, 2.0f, 3.0f}, q{3.0f, 2.0f, 1.0f};
    CHECK(rt::kl_divergence_from_logits(p, p) == 0.0);
    // By hand: p = softmax(1,2,3) = (0.0900, 0.2447, 0.6652), q its reverse: 1.15042.
    CHECK(rt::kl_divergence_from_logits(p, q) == doctest::Approx(1.15042).epsilon(1e-4));
    CHECK_THROWS_AS(rt::kl_divergence_from_logits(p, std::vector<float>{1.0f}), Error);
}
