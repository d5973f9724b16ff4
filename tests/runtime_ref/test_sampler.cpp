// The sampler: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeds, bad logits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "runtime/sampler.hpp"

using namespace mq::rt;

namespace {

SamplerOptions plain(float temperature, uint64_t seed = 7) {
    SamplerOptions o;
    o.temperature = temperature;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.min_p = 0.0f;
    o.repetition_penalty = 1.0f;
    o.seed = seed;
    return o;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    double max = *std::max_element(logits.begin(), logits.end()), sum = 0;
    std::vector<double> p;
    for (float l : logits) sum += std::exp((l - max) / temperature);
    for (float l : logits) p.push_back(std::exp((l - max) / temperature) / sum);
    return p;
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int draws,
                                std::span<const uint32_t> history = {}) {
    std::vector<double> f(logits.size());
    for (int i = 0; i < draws; ++i) f[s.sample(logits, history).id] += 1.0 / draws;
    return f;
}

const std::vector<float> kLogits = {1.0f, 3.0f, -2.0f, 2.5f, 0.0f, 2.9f, -1.0f, 0.5f};

}  // namespace

TEST_CASE("greedy picks the argmax, and top_k = 1 is greedy at any temperature") {
    Sampler greedy(plain(0.0f));
    CHECK(greedy.sample(kLogits, {}).id == 1);
    for (float t : {0.5f, 1.0f, 5.0f}) {
        SamplerOptions o = plain(t);
        o.top_k = 1;
        Sampler s(o);
        for (int i = 0; i < 50; ++i) CHECK(s.sample(kLogits, {}).id == 1);
    }
    // Ties go to the lower id.
    CHECK(greedy.sample(std::vector<float>{0.5f, 2.0f, 2.0f}, {}).id == 1);
}

TEST_CASE("the reported logprob and alternatives come from the unmodified logits") {
    SamplerOptions o = plain(0.3f);
    o.repetition_penalty = 3.0f;
    o.top_k = 2;
    Sampler s(o);
    const std::vector<uint32_t> history = {1};
    auto r = s.sample(kLogits, history);
    const auto p = softmax(kLogits, 1.0);
    CHECK(r.logprob == doctest::Approx(std::log(p[r.id])).epsilon(1e-5));
    REQUIRE(r.top.size() == 5);
    const uint32_t order[] = {1, 5, 3, 0, 7};  // logits 3.0, 2.9, 2.5, 1.0, 0.5
    for (int i = 0; i < 5; ++i) {
        CHECK(r.top[i].first == order[i]);
        CHECK(r.top[i].second == doctest::Approx(std::log(p[order[i]])).epsilon(1e-5));
    }
    // Fewer than 5 tokens: as many alternatives as tokens.
    CHECK(s.sample(std::vector<float>{0.0f, 1.0f}, {}).top.size() == 2);
}

TEST_CASE("a fixed seed reproduces the same tokens, and different seeds differ") {
    auto run = [](uint64_t seed) {
        Sampler s(plain(1.5f, seed));
        std::vector<uint32_t> ids;
        for (int i = 0; i < 64; ++i) ids.push_back(s.sample(kLogits, {}).id);
        return ids;
    };
    CHECK(run(42) == run(42));
    CHECK(run(42) != run(43));
    // The sequence is pinned: std::mt19937_64 is fully specified and the uniform draw is ours,
    // so a seed gives these tokens with any compiler and standard library.
    const std::vector<uint32_t> pinned = {5, 4, 5, 1, 5, 1, 3, 1, 1, 3, 0, 3, 5, 4, 5, 7};
    const std::vector<uint32_t> seq = run(42);
    CHECK(std::vector<uint32_t>(seq.begin(), seq.begin() + 16) == pinned);
    SamplerOptions defaults;  // temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, penalty 1.1
    defaults.seed = 42;
    Sampler d(defaults);
    std::vector<uint32_t> got;
    for (int i = 0; i < 16; ++i) got.push_back(d.sample(kLogits, {}).id);
    CHECK(got == std::vector<uint32_t>{3, 5, 5, 1, 3, 1, 5, 1, 1, 1, 1, 5, 5, 5, 3, 3});
    CHECK(Sampler(plain(1.0f, 0)).seed() != 0);  // seed 0 draws a random seed
}

TEST_CASE("sampled frequencies match softmax(logits / T)") {
    for (float t : {0.7f, 1.0f, 2.0f}) {
        CAPTURE(t);
        Sampler s(plain(t, 1234));
        const int draws = 40000;
        const auto f = frequencies(s, kLogits, draws);
        const auto p = softmax(kLogits, t);
        for (size_t i = 0; i < p.size(); ++i) {
            CAPTURE(i);
            // 5 standard deviations of a binomial proportion, plus a little.
            const double sd = std::sqrt(p[i] * (1 - p[i]) / draws);
            CHECK(std::fabs(f[i] - p[i]) < 5 * sd + 1e-3);
        }
    }
}

TEST_CASE("top-k, top-p and min-p exclude exactly what they should") {
    const int draws = 5000;
    {
        SamplerOptions o = plain(1.0f);
        o.top_k = 3;  // ids 1, 5, 3
        Sampler s(o);
        const auto f = frequencies(s, kLogits, draws);
        for (uint32_t i : {0u, 2u, 4u, 6u, 7u}) CHECK(f[i] == 0);
        for (uint32_t i : {1u, 5u, 3u}) CHECK(f[i] > 0.1);
    }
    {
        // p at T=1: id1 .357, id5 .323, id3 .216, id0 .048, ...: the prefix reaching 0.8 is
        // {1, 5, 3} (0.896).
        SamplerOptions o = plain(1.0f);
        o.top_p = 0.8f;
        Sampler s(o);
        const auto f = frequencies(s, kLogits, draws);
        for (uint32_t i : {0u, 2u, 4u, 6u, 7u}) CHECK(f[i] == 0);
        CHECK(f[3] > 0.1);
        o.top_p = 0.5f;  // {1, 5}: 0.680
        Sampler s2(o);
        const auto f2 = frequencies(s2, kLogits, draws);
        CHECK(f2[3] == 0);
        CHECK(f2[5] > 0.3);
    }
    {
        // min_p 0.5: keep p >= 0.5 * p(id1): id5 (ratio e^-0.1) and id3 (e^-0.5 = 0.61), not
        // id0 (e^-2).
        SamplerOptions o = plain(1.0f);
        o.min_p = 0.5f;
        Sampler s(o);
        const auto f = frequencies(s, kLogits, draws);
        for (uint32_t i : {0u, 2u, 4u, 6u, 7u}) CHECK(f[i] == 0);
        CHECK(f[3] > 0.1);
        o.min_p = 0.7f;  // drops id3
        Sampler s2(o);
        CHECK(frequencies(s2, kLogits, draws)[3] == 0);
    }
}

TEST_CASE("the repetition penalty lowers recently used tokens, within its window") {
    SamplerOptions o = plain(0.0f);
    o.repetition_penalty = 1.5f;
    Sampler s(o);
    // Without history id 1 (3.0) wins; penalized to 2.0 it loses to id 5 (2.9).
    const std::vector<uint32_t> recent = {1, 1, 1};
    CHECK(s.sample(kLogits, recent).id == 5);
    // A negative logit is multiplied: id 2 (-2) must not become more likely.
    std::vector<float> neg = {-1.0f, -1.2f};
    const std::vector<uint32_t> used0 = {0};
    CHECK(s.sample(neg, used0).id == 1);  // -1 * 1.5 = -1.5 < -1.2
    // Outside the window the token is not penalized.
    o.repetition_window = 2;
    Sampler windowed(o);
    const std::vector<uint32_t> old = {1, 4, 6};
    CHECK(windowed.sample(kLogits, old).id == 1);
    // The frequencies move too when sampling.
    SamplerOptions t = plain(1.0f, 99);
    Sampler unpenalized(t);
    t.repetition_penalty = 2.0f;
    Sampler penalized(t);
    const std::vector<uint32_t> hist = {1};
    CHECK(frequencies(penalized, kLogits, 4000, hist)[1] <
          frequencies(unpenalized, kLogits, 4000, hist)[1] - 0.1);
}

TEST_CASE("NaN or infinite logits and bad options give an mq::Error") {
    Sampler s(plain(1.0f));
    std::vector<float> bad = kLogits;
    bad[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(s.sample(bad, {}), doctest::Contains("logit of token 3"), mq::Error);
    bad[3] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(s.sample(bad, {}), mq::Error);
    bad[3] = -std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(s.sample(bad, {}), mq::Error);
    CHECK_THROWS_AS(s.sample(std::vector<float>{}, {}), mq::Error);
    SamplerOptions o = plain(-1.0f);
    CHECK_THROWS_AS(Sampler{o}, mq::Error);
    o = plain(1.0f);
    o.top_p = 0.0f;
    CHECK_THROWS_AS(Sampler{o}, mq::Error);
    o = plain(1.0f);
    o.repetition_penalty = 0.0f;
    CHECK_THROWS_AS(Sampler{o}, mq::Error);
    // History ids outside the vocabulary are ignored, not read out of bounds.
    const std::vector<uint32_t> wild = {1000000, 5};
    CHECK_NOTHROW(s.sample(kLogits, wild));
}
