#include "runtime/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "core/error.hpp"

namespace mq::rt {

namespace {

// Uniform in [0, 1) from the top 53 bits: the same on every platform for the same engine.
double uniform01(std::mt19937_64& rng) {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Orders ids by value, largest first, the lower id first on ties.
template <typename Values>
auto by_value_desc(const Values& v) {
    return [&v](uint32_t a, uint32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
}

void check_finite(std::span<const float> logits) {
    if (logits.empty()) fail("sampler: empty logits");
    for (size_t i = 0; i < logits.size(); ++i)
        if (!std::isfinite(logits[i]))
            fail("sampler: logit of token {} is {} (the forward pass produced a non-finite value)",
                 i, logits[i]);
}

// log(sum(exp(logits))): log_softmax(logits)[i] = logits[i] - log_normalizer(logits).
double log_normalizer(std::span<const float> logits) {
    const double max_logit = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l) - max_logit);
    return max_logit + std::log(sum);
}

// The k most likely tokens of the unmodified distribution (id, logprob), best first.
std::vector<std::pair<uint32_t, float>> top_alternatives(std::span<const float> logits,
                                                         double log_z, uint32_t k) {
    const uint32_t n = static_cast<uint32_t>(logits.size());
    std::vector<uint32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0u);
    k = std::min(n, k);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_value_desc(logits));
    std::vector<std::pair<uint32_t, float>> top;
    for (uint32_t i = 0; i < k; ++i)
        top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - log_z));
    return top;
}

// 1. The logits with the repetition penalty over the distinct ids of the recent history.
std::vector<double> penalized(std::span<const float> logits, std::span<const uint32_t> history,
                              const SamplerOptions& o) {
    std::vector<double> l(logits.begin(), logits.end());
    if (o.repetition_penalty == 1.0f || o.repetition_window == 0) return l;
    const size_t window = std::min<size_t>(history.size(), o.repetition_window);
    std::unordered_set<uint32_t> seen;
    for (uint32_t id : history.subspan(history.size() - window)) {
        if (id >= l.size() || !seen.insert(id).second) continue;
        const double p = o.repetition_penalty;
        l[id] = l[id] > 0 ? l[id] / p : l[id] * p;
    }
    return l;
}

// 4-6. The ids top-k, top-p and min-p keep, given unnormalized probabilities p.
std::vector<uint32_t> candidates(const std::vector<double>& p, const SamplerOptions& o) {
    const uint32_t n = static_cast<uint32_t>(p.size());
    std::vector<uint32_t> cand(n);
    std::iota(cand.begin(), cand.end(), 0u);
    // 4. top-k (and sorted order for top-p)
    if (o.top_k > 0 && o.top_k < n) {
        std::partial_sort(cand.begin(), cand.begin() + o.top_k, cand.end(), by_value_desc(p));
        cand.resize(o.top_k);
    } else if (o.top_p < 1.0f) {
        std::sort(cand.begin(), cand.end(), by_value_desc(p));
    }
    // 5. top-p: the smallest prefix of the sorted candidates whose mass reaches top_p
    if (o.top_p < 1.0f) {
        double mass = 0;
        for (uint32_t id : cand) mass += p[id];
        double acc = 0;
        size_t keep = 0;
        while (keep < cand.size()) {
            acc += p[cand[keep++]];
            if (acc >= o.top_p * mass) break;
        }
        cand.resize(keep);
    }
    // 6. min-p relative to the most probable token (p = 1 for it after the max shift)
    if (o.min_p > 0) {
        double p_max = 0;
        for (uint32_t id : cand) p_max = std::max(p_max, p[id]);
        const double floor = o.min_p * p_max;
        std::erase_if(cand, [&](uint32_t id) { return p[id] < floor; });
    }
    return cand;
}

// 7. One draw from the candidates, in proportion to p.
uint32_t draw(const std::vector<double>& p, const std::vector<uint32_t>& cand,
              std::mt19937_64& rng) {
    double total = 0;
    for (uint32_t id : cand) total += p[id];
    const double target = uniform01(rng) * total;
    double acc = 0;
    for (uint32_t id : cand) {
        acc += p[id];
        if (target < acc) return id;
    }
    return cand.back();  // if rounding leaves target past the end
}

}  // namespace

Sampler::Sampler(SamplerOptions options) : options_(options) {
    const SamplerOptions& o = options_;
    if (!(o.temperature >= 0 && std::isfinite(o.temperature)))
        fail("sampler: temperature {} must be 0 (greedy) or positive", o.temperature);
    if (!(o.top_p > 0 && o.top_p <= 1))
        fail("sampler: top-p {} must be in (0, 1] (1 = off)", o.top_p);
    if (!(o.min_p >= 0 && o.min_p <= 1))
        fail("sampler: min-p {} must be in [0, 1] (0 = off)", o.min_p);
    if (!(o.repetition_penalty > 0 && std::isfinite(o.repetition_penalty)))
        fail("sampler: repetition penalty {} must be positive (1 = off)", o.repetition_penalty);
    seed_ = o.seed;
    while (seed_ == 0) seed_ = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    rng_.seed(seed_);
}

Sampler::Result Sampler::sample(std::span<const float> logits, std::span<const uint32_t> history) {
    check_finite(logits);
    Result result;
    const double log_z = log_normalizer(logits);
    result.top = top_alternatives(logits, log_z, 5);

    const std::vector<double> l = penalized(logits, history, options_);
    uint32_t chosen = 0;
    if (options_.temperature == 0 || options_.top_k == 1) {
        // 2. greedy
        chosen = static_cast<uint32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    } else {
        // 3. probabilities at the temperature (unnormalized; only ratios matter below)
        const double max_l = *std::max_element(l.begin(), l.end());
        std::vector<double> p(l.size());
        for (size_t i = 0; i < l.size(); ++i)
            p[i] = std::exp((l[i] - max_l) / options_.temperature);
        chosen = draw(p, candidates(p, options_), rng_);
    }
    result.id = chosen;
    result.logprob = static_cast<float>(logits[chosen] - log_z);
    return result;
}

}  // namespace mq::rt
