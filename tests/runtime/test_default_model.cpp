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
    CHECK(r.ppl == doctest::Approx(kTrainingToolPpl2048).epsilon(0.01));
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
    CHECK(r8.ppl == doctest::Approx(kTrainingToolPpl2048).epsilon(0.02));
    CHECK(r4.ppl > r8.ppl);
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "the shipped checkpoint's routers meet the budget and beat random depths") {
    rt::ModelSession session(ctx, kAssets / "default-mobiquant.gguf", {.context = 256});
    REQUIRE(session.weights().routers);
    std::string text = read_text_file(kAssets / "heldout.txt");
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::vector<int32_t> ids = session.tokenizer().encode(text, eo);
    ids.resize(512);
    const int32_t bos = session.tokenizer().bos();
    std::vector<rt::TokenDepths> used;
    auto routed = rt::perplexity_of_ids(session.forward(), ids, bos, rt::DepthPolicy::budget(3.0f),
                                        session.weights().routers, 256, {}, &used);
    auto dist = rt::depth_distribution(used, session.desc().n_layers);
    auto random = rt::perplexity_of_ids(session.forward(), ids, bos,
                                        rt::DepthPolicy::random(dist, 1), nullptr, 256);
    MESSAGE("budget 3.0: routed " << routed.ppl << " at " << routed.bits << " bits, random depths "
                                  << random.ppl << " at " << random.bits << " bits");
    CHECK(routed.bits == doctest::Approx(3.0).epsilon(0.1 / 3.0));
    CHECK(random.bits == doctest::Approx(routed.bits).epsilon(0.02));
    CHECK(routed.ppl < random.ppl);
}
