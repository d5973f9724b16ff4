// forward_multi: sequences at different positions, each in its own KV region and with its own
// depths or router thresholds, share one step. Checked against each sequence run alone: through
// forward() (its own cache, mat-vec decode: logits within fp tolerance, same greedy tokens) and
// through forward_multi one sequence at a time (bit for bit: batching changes nothing).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "runtime/depth_policy.hpp"
#include "runtime/model_session.hpp"
#include "runtime/router.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
using mq::rt::TokenDepths;

namespace {

const std::filesystem::path kCheckpoint =
    std::filesystem::path(MQ_SOURCE_DIR) / "assets" / "default-mobiquant.gguf";

uint32_t argmax(std::span<const float> v) {
    return static_cast<uint32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct Sequence {
    std::vector<uint32_t> prompt;
    uint8_t depth = 4;          // uniform depth (unrouted runs)
    float bits = 8;             // router budget (routed runs)
    std::vector<uint32_t> out;  // greedy tokens
    std::vector<float> logits;  // every step's logits, concatenated
    std::vector<TokenDepths> used;
};

std::vector<Sequence> three_sequences(uint32_t vocab) {
    std::vector<Sequence> s(3);
    for (uint32_t i = 0; i < 5; ++i) s[0].prompt.push_back((i * 37 + 11) % vocab);
    for (uint32_t i = 0; i < 9; ++i) s[1].prompt.push_back((i * 53 + 7) % vocab);
    for (uint32_t i = 0; i < 3; ++i) s[2].prompt.push_back((i * 91 + 3) % vocab);
    s[0].depth = 1, s[1].depth = 2, s[2].depth = 4;
    s[0].bits = 3.0f, s[1].bits = 5.0f, s[2].bits = 7.5f;
    return s;
}

// Runs the given sequences through forward_multi together: first one step with every prompt,
// then `steps` greedy decode steps with one token of each.
void run_multi(rt::ForwardBackend& fwd, const rt::RouterSet* routers, std::vector<Sequence*> seqs,
               std::span<const uint32_t> slot_of, uint32_t steps) {
    const uint32_t n_linears = fwd.desc().n_layers * rt::kLinearsPerLayer;
    const uint32_t vocab = fwd.desc().vocab_size;
    std::vector<uint32_t> pos(seqs.size(), 0);
    for (uint32_t step = 0; step <= steps; ++step) {
        std::vector<uint32_t> tokens, positions, slots, rows;
        std::vector<TokenDepths> depths;
        std::vector<float> thresholds;
        std::vector<size_t> owner;
        for (size_t i = 0; i < seqs.size(); ++i) {
            std::vector<uint32_t> feed =
                step == 0 ? seqs[i]->prompt : std::vector<uint32_t>{seqs[i]->out.back()};
            for (uint32_t t : feed) {
                tokens.push_back(t);
                positions.push_back(pos[i]++);
                slots.push_back(slot_of[i]);
                owner.push_back(i);
                depths.push_back(rt::uniform_depths(fwd.desc().n_layers, seqs[i]->depth));
                if (routers) {
                    auto row = routers->table.lookup(seqs[i]->bits, n_linears);
                    thresholds.insert(thresholds.end(), row.begin(), row.end());
                }
            }
            rows.push_back(static_cast<uint32_t>(tokens.size() - 1));
        }
        std::vector<TokenDepths> used;
        auto logits = fwd.forward_multi(
            tokens, positions, slots,
            routers ? std::span<const TokenDepths>{} : std::span<const TokenDepths>(depths),
            thresholds, rows, &used);
        for (size_t i = 0; i < seqs.size(); ++i) {
            std::span<const float> row(logits.data() + i * vocab, vocab);
            seqs[i]->logits.insert(seqs[i]->logits.end(), row.begin(), row.end());
            seqs[i]->out.push_back(argmax(row));
        }
        for (size_t t = 0; t < used.size(); ++t) seqs[owner[t]]->used.push_back(used[t]);
    }
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture,
                  "forward_multi: sequences of different depths in one step match each run alone") {
    REQUIRE(std::filesystem::exists(kCheckpoint));
    rt::ModelSession session(ctx, kCheckpoint, {.context = 128});
    REQUIRE(session.quantized());
    rt::ForwardBackend& fwd = session.forward();
    const uint32_t vocab = session.desc().vocab_size, n_layers = session.desc().n_layers;
    fwd.reserve_slots(4, 64);
    constexpr uint32_t kSteps = 6;

    auto batched = three_sequences(vocab);
    const uint32_t slot_of[] = {2, 0, 3};  // any slot, not in order
    run_multi(fwd, nullptr, {&batched[0], &batched[1], &batched[2]}, slot_of, kSteps);

    for (Sequence& b : batched) {
        // Alone, through forward(): prefill, then mat-vec decode steps.
        std::vector<TokenDepths> pd(b.prompt.size(), rt::uniform_depths(n_layers, b.depth));
        auto logits = fwd.forward(b.prompt, 0, pd);
        std::vector<float> ref;
        std::vector<uint32_t> out;
        for (uint32_t step = 0; step <= kSteps; ++step) {
            ref.insert(ref.end(), logits.begin(), logits.end());
            out.push_back(argmax(logits));
            if (step == kSteps) break;
            auto d = rt::uniform_depths(n_layers, b.depth);
            logits = fwd.forward(std::span<const uint32_t>(&out.back(), 1),
                                 static_cast<uint32_t>(b.prompt.size() + step),
                                 std::span<const TokenDepths>(&d, 1));
        }
        CHECK(out == b.out);
        float max_diff = 0, max_abs = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            max_diff = std::max(max_diff, std::abs(ref[i] - b.logits[i]));
            max_abs = std::max(max_abs, std::abs(ref[i]));
        }
        MESSAGE("depth " << int(b.depth) << ": largest logit difference " << max_diff << " of "
                         << max_abs);
        CHECK(max_diff <= 3e-5f);  // measured: 6e-6 of logits up to 14
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "forward_multi: routed sequences of different budgets batched equal each alone, "
                  "bit for bit") {
    REQUIRE(std::filesystem::exists(kCheckpoint));
    rt::ModelSession session(ctx, kCheckpoint, {.context = 128});
    REQUIRE(session.forward().routed());
    rt::ForwardBackend& fwd = session.forward();
    const rt::RouterSet* routers = session.routers().get();
    fwd.reserve_slots(3, 64);
    constexpr uint32_t kSteps = 6;

    auto batched = three_sequences(session.desc().vocab_size);
    const uint32_t slots[] = {0, 1, 2};
    run_multi(fwd, routers, {&batched[0], &batched[1], &batched[2]}, slots, kSteps);
    auto alone = three_sequences(session.desc().vocab_size);
    for (size_t i = 0; i < alone.size(); ++i) {
        const uint32_t slot[] = {static_cast<uint32_t>(2 - i)};  // another region than batched
        run_multi(fwd, routers, {&alone[i]}, slot, kSteps);
        CHECK(alone[i].out == batched[i].out);
        CHECK(alone[i].used == batched[i].used);
        CHECK(alone[i].logits == batched[i].logits);
    }
    // The budgets reached the routers: fewer bits chose shallower depths.
    auto mean = [](const std::vector<TokenDepths>& u) {
        double s = 0;
        for (const auto& d : u) s += rt::average_bits(d);
        return s / u.size();
    };
    MESSAGE("mean bits at budgets 3, 5, 7.5: " << mean(batched[0].used) << ", "
                                               << mean(batched[1].used) << ", "
                                               << mean(batched[2].used));
    CHECK(mean(batched[0].used) < mean(batched[1].used));
    CHECK(mean(batched[1].used) < mean(batched[2].used));
}

TEST_CASE_FIXTURE(VulkanFixture, "forward_multi: bad slots, positions and sizes are errors") {
    rt::ModelSession session(ctx, kCheckpoint, {.context = 128});
    rt::ForwardBackend& fwd = session.forward();
    const uint32_t tok[] = {1}, pos[] = {0}, slot[] = {0}, row[] = {0};
    auto depths = std::vector<TokenDepths>{rt::uniform_depths(session.desc().n_layers, 2)};
    CHECK_THROWS_AS(fwd.forward_multi(tok, pos, slot, depths, {}, row), Error);  // no slots yet
    fwd.reserve_slots(2, 16);
    const uint32_t far[] = {16}, bad_slot[] = {2}, bad_row[] = {1};
    CHECK_THROWS_AS(fwd.forward_multi(tok, far, slot, depths, {}, row), Error);
    CHECK_THROWS_AS(fwd.forward_multi(tok, pos, bad_slot, depths, {}, row), Error);
    CHECK_THROWS_AS(fwd.forward_multi(tok, pos, slot, depths, {}, bad_row), Error);
    CHECK_THROWS_AS(fwd.forward_multi(tok, pos, slot, {}, {}, row), Error);
    CHECK(fwd.forward_multi(tok, pos, slot, depths, {}, row).size() == session.desc().vocab_size);
}
