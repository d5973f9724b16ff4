// The shipped default model through the ordinary paths: GGUF loader, tokenizer, Vulkan forward.
// Its perplexity on the first 2048 held-out tokens must match what the training tool measured
// (tools/train/check_gguf.py --max-windows 8: 50.6148 in PyTorch fp32, protocol of
// assets/README.md: windows of 256 tokens, each run on [BOS] + w[:-1]).
#include <doctest/doctest.h>

#include <filesystem>

#include "core/atomic_file.hpp"
#include "runtime/perplexity.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {
constexpr double kTrainingToolPpl2048 = 50.6148;
const fs::path kAssets = fs::path(MQ_SOURCE_DIR) / "assets";
}  // namespace

TEST_CASE_FIXTURE(
    VulkanFixture,
    "the default model loads, round-trips text and reproduces its held-out perplexity") {
    REQUIRE(fs::exists(kAssets / "default-model.gguf"));
    rt::ModelSession session(ctx, kAssets / "default-model.gguf", {.context = 256});
    std::string text = read_text_file(kAssets / "heldout.txt");
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::string excerpt = text.substr(0, 4000);
    auto ids = session.tokenizer().encode(excerpt, eo);
    tok::DecodeOptions dopt;
    dopt.strip_leading_space = true;
    CHECK(session.tokenizer().decode(ids, dopt) == excerpt);

    auto r = rt::perplexity(session, text, rt::DepthPolicy::uniform(4), 256, 2048);
    MESSAGE("default model, fp32 Vulkan: perplexity " << r.ppl << " on " << r.tokens << " tokens");
    CHECK(r.tokens == 2048);
    // Reproduced to 2e-6 relative (50.6149 against 50.6148).
    CHECK(r.ppl == doctest::Approx(kTrainingToolPpl2048).epsilon(2e-5));
}

TEST_CASE_FIXTURE(
    VulkanFixture,
    "the shipped MoBiQuant checkpoint at 8 bits is as good as the model it came from") {
    REQUIRE(fs::exists(kAssets / "default-mobiquant.gguf"));
    rt::ModelSession session(ctx, kAssets / "default-mobiquant.gguf", {.context = 256});
    REQUIRE(session.quantized());
    std::string text = read_text_file(kAssets / "heldout.txt");
    auto r8 = rt::perplexity(session, text, rt::DepthPolicy::uniform(4), 256, 2048);
    auto r4 = rt::perplexity(session, text, rt::DepthPolicy::uniform(2), 256, 2048);
    MESSAGE("checkpoint: 8 bits " << r8.ppl << ", 4 bits " << r4.ppl);
    CHECK(r8.bits == doctest::Approx(8.0));
    // 8-bit weights: 50.6189, 8e-5 above full precision.
    CHECK(r8.ppl == doctest::Approx(kTrainingToolPpl2048).epsilon(1e-3));
    CHECK(r4.ppl > r8.ppl);
}

// Perplexity on 512 tokens cannot tell routed from random depths apart (its noise, the sign of
// each token's first-order loss change, is larger than the gap); KL from the full-precision
// model's distributions has no first-order term and measures the quantization damage itself.
TEST_CASE_FIXTURE(VulkanFixture,
                  "the shipped checkpoint's routers meet the budget and beat random depths") {
    std::string text = read_text_file(kAssets / "heldout.txt");
    rt::TokenLogProbs full_precision;
    std::vector<int32_t> ids;
    int32_t bos = -1;
    {
        rt::ModelSession fp(ctx, kAssets / "default-model.gguf", {.context = 256});
        tok::EncodeOptions eo;
        eo.add_special = false;
        ids = fp.tokenizer().encode(text, eo);
        ids.resize(512);
        bos = fp.tokenizer().bos();
        rt::PolicyForward forward(fp, rt::DepthPolicy::uniform(4));
        rt::perplexity_of_ids(forward, ids, bos, 256, {}, {.log_probs = &full_precision});
    }
    rt::ModelSession session(ctx, kAssets / "default-mobiquant.gguf", {.context = 256});
    REQUIRE(session.routers());
    for (float budget : {3.0f, 7.0f}) {
        std::vector<rt::TokenDepths> used;
        rt::PolicyForward routed_forward(session, rt::DepthPolicy::budget(budget));
        REQUIRE(routed_forward.routed());
        auto routed =
            rt::perplexity_of_ids(routed_forward, ids, bos, 256, {},
                                  {.used_depths = &used, .kl_reference = &full_precision});
        auto dist = rt::depth_distribution(used, session.desc().n_layers);
        rt::PolicyForward random_forward(session, rt::DepthPolicy::random(dist, 1));
        auto random = rt::perplexity_of_ids(random_forward, ids, bos, 256, {},
                                            {.kl_reference = &full_precision});
        MESSAGE("budget " << budget << ": routed " << routed.ppl << " (KL " << routed.kl << ") at "
                          << routed.bits << " bits, random depths " << random.ppl << " (KL "
                          << random.kl << ") at " << random.bits << " bits");
        CHECK(routed.bits == doctest::Approx(budget).epsilon(0.1 / budget));
        CHECK(random.bits == doctest::Approx(routed.bits).epsilon(0.02));
        CHECK(routed.kl > 0);
        CHECK(routed.kl < random.kl);
    }
}
