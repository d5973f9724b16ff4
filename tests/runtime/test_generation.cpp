// The token stream: KV-cache reuse across chat turns, budgets, cancel, and perplexity.
#include <doctest/doctest.h>

#include <filesystem>

#include "runtime/generator.hpp"
#include "runtime/perplexity.hpp"
#include "support/tiny_model.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {

fs::path tiny_model_file(TinyModelSpec spec = {}) {
    fs::path dir = fs::temp_directory_path() / "mq_test_generation";
    fs::create_directories(dir);
    return write_tiny_model(spec, dir);
}

rt::SamplerOptions greedy() {
    rt::SamplerOptions s;
    s.temperature = 0;
    s.repetition_penalty = 1;
    return s;
}

std::vector<uint32_t> generate_ids(rt::Generator& gen, const std::vector<int32_t>& prompt,
                                   uint32_t n) {
    std::vector<uint32_t> out;
    gen.generate(prompt, n, greedy(), [&](const rt::TokenEvent& ev) { out.push_back(ev.id); });
    return out;
}

}  // namespace

TEST_CASE_FIXTURE(
    VulkanFixture,
    "a second turn reuses the cache and matches a fresh run over the whole conversation") {
    rt::ModelSession session(ctx, tiny_model_file(), {.context = 128});
    rt::Generator chat(session, rt::DepthPolicy::uniform(4));
    std::vector<int32_t> turn1 = {1, 5, 9, 13, 17};
    auto reply1 = generate_ids(chat, turn1, 8);
    // Turn 2: the whole conversation so far plus new user text.
    std::vector<int32_t> turn2 = turn1;
    turn2.insert(turn2.end(), reply1.begin(), reply1.end());
    for (int32_t id : {21, 25, 29}) turn2.push_back(id);
    rt::GenerationStats stats;
    std::vector<uint32_t> reply2;
    stats = chat.generate(turn2, 8, greedy(),
                          [&](const rt::TokenEvent& ev) { reply2.push_back(ev.id); });
    CHECK(stats.reused_tokens >= turn1.size() + reply1.size() - 1);
    CHECK(stats.prompt_tokens <= 4);

    rt::Generator fresh(session, rt::DepthPolicy::uniform(4));
    CHECK(generate_ids(fresh, turn2, 8) == reply2);
}

TEST_CASE_FIXTURE(
    VulkanFixture,
    "every token reports its depths, a budget is met on average and changes from the next token") {
    rt::ModelSession session(ctx, tiny_model_file(), {.context = 128, .slice_plain_model = true});
    REQUIRE(session.quantized());
    rt::Generator gen(session, rt::DepthPolicy::budget(5.0f));
    std::vector<float> bits;
    size_t switch_at = 20;
    gen.generate(std::vector<int32_t>{1, 2, 3}, 40, greedy(), [&](const rt::TokenEvent& ev) {
        REQUIRE(ev.depths.size() == session.desc().n_layers);
        bits.push_back(ev.bits);
        if (bits.size() == switch_at) gen.set_policy(rt::DepthPolicy::uniform(1));
    });
    REQUIRE(bits.size() == 40);
    double mean = 0;
    for (size_t i = 0; i < switch_at; ++i) mean += bits[i] / switch_at;
    CHECK(mean == doctest::Approx(5.0).epsilon(0.05));
    // The token sampled right after the switch was computed with the old policy; the next on.
    for (size_t i = switch_at + 1; i < bits.size(); ++i) CHECK(bits[i] == 2.0f);
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "generation stops when cancelled, and an oversized prompt is refused") {
    rt::ModelSession session(ctx, tiny_model_file(), {.context = 64});
    rt::Generator gen(session, rt::DepthPolicy::uniform(4));
    int seen = 0;
    auto stats = gen.generate(std::vector<int32_t>{1, 2}, 50, greedy(), [&](const rt::TokenEvent&) {
        if (++seen == 3) gen.cancel();
    });
    CHECK(stats.stop_reason == "cancelled");
    CHECK(seen == 3);
    std::vector<int32_t> long_prompt(64, 5);
    CHECK_THROWS_WITH_AS(gen.generate(long_prompt, 1, greedy(), [](const rt::TokenEvent&) {}),
                         doctest::Contains("context"), mq::Error);
}

TEST_CASE_FIXTURE(
    VulkanFixture,
    "perplexity: finite, changed by the depth, and the achieved bits are the ones asked for, KL "
    "from a reference run") {
    rt::ModelSession session(ctx, tiny_model_file(), {.context = 64, .slice_plain_model = true});
    std::string text = "the quick brown fox jumps over the lazy dog. ";
    for (int i = 0; i < 3; ++i) text += text;
    rt::TokenLogProbs at8;
    auto p8 =
        rt::perplexity(session, text, rt::DepthPolicy::uniform(4), 0, 0, {}, {.log_probs = &at8});
    auto p2 = rt::perplexity(session, text, rt::DepthPolicy::uniform(1), 0, 0, {},
                             {.kl_reference = &at8});
    auto again8 = rt::perplexity(session, text, rt::DepthPolicy::uniform(4), 0, 0, {},
                                 {.kl_reference = &at8});
    auto p5 = rt::perplexity(session, text, rt::DepthPolicy::budget(5.0f));
    CHECK(std::isfinite(p8.ppl));
    CHECK(p8.ppl > 1.0);
    CHECK(p8.stderr_ppl > 0);
    CHECK(p8.bits == doctest::Approx(8.0));
    CHECK(p2.bits == doctest::Approx(2.0));
    CHECK(p5.bits == doctest::Approx(5.0).epsilon(0.05));
    CHECK(p2.ppl != p8.ppl);
    CHECK(p8.tokens == p2.tokens);
    // KL from the 8-bit run's distributions: one value per token, none from itself, some at 2 bits.
    CHECK(at8.tokens() == p8.tokens);
    CHECK(p2.token_kl.size() == p2.tokens);
    CHECK(again8.kl < 1e-6);
    CHECK(p2.kl > 1e-3);
}
