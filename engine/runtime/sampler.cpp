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
    const uint32_t n = static_cast<uint32_t>(logits.size());
    if (n == 0) fail("sampler: empty logits");
    for (uint32_t i = 0; i < n; ++i)
        if (!std::isfinite(logits[i]))
            fail("sampler: logit of token {} is {} (the forward pass produced a non-finite value)",
                 i, logits[i]);

    // The unmodified distribution: the logprob and the alternatives reported to the caller.
    const double max_logit = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l) - max_logit);
    const double log_z = max_logit + std::log(sum);
    Result result;
    {
        std::vector<uint32_t> ids(n);
        std::iota(ids.begin(), ids.end(), 0u);
        const uint32_t k = std::min(n, 5u);
        std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_value_desc(logits));
        for (uint32_t i = 0; i < k; ++i)
            result.top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - log_z));
    }

    // 1. repetition penalty over the distinct ids of the recent history
    std::vector<double> l(logits.begin(), logits.end());
    if (options_.repetition_penalty != 1.0f && options_.repetition_window > 0) {
        const size_t window = std::min<size_t>(history.size(), options_.repetition_window);
        std::unordered_set<uint32_t> seen;
        for (uint32_t id : history.subspan(history.size() - window)) {
            if (id >= n || !seen.insert(id).second) continue;
            const double p = options_.repetition_penalty;
            l[id] = l[id] > 0 ? l[id] / p : l[id] * p;
        }
    }

    uint32_t chosen = 0;
    if (options_.temperature == 0 || options_.top_k == 1) {
        // 2. greedy
        chosen = static_cast<uint32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    } else {
        // 3. probabilities at the temperature (unnormalized; only ratios matter below)
        const double max_l = *std::max_element(l.begin(), l.end());
        std::vector<double> p(n);
        for (uint32_t i = 0; i < n; ++i) p[i] = std::exp((l[i] - max_l) / options_.temperature);
        std::vector<uint32_t> cand(n);
        std::iota(cand.begin(), cand.end(), 0u);
        // 4. top-k (and sorted order for top-p)
        const bool keep_k = options_.top_k > 0 && options_.top_k < n;
        if (keep_k) {
            std::partial_sort(cand.begin(), cand.begin() + options_.top_k, cand.end(),
                              by_value_desc(p));
            cand.resize(options_.top_k);
        } else if (options_.top_p < 1.0f) {
            std::sort(cand.begin(), cand.end(), by_value_desc(p));
        }
        // 5. top-p: the smallest prefix of the sorted candidates whose mass reaches top_p
        if (options_.top_p < 1.0f) {
            double mass = 0;
            for (uint32_t id : cand) mass += p[id];
            double acc = 0;
            size_t keep = 0;
            while (keep < cand.size()) {
                acc += p[cand[keep++]];
                if (acc >= options_.top_p * mass) break;
            }
            cand.resize(keep);
        }
        // 6. min-p relative to the most probable token (p = 1 for it after the max shift)
        if (options_.min_p > 0) {
            double p_max = 0;
            for (uint32_t id : cand) p_max = std::max(p_max, p[id]);
            const double floor = options_.min_p * p_max;
            std::erase_if(cand, [&](uint32_t id) { return p[id] < floor; });
        }
        // 7. draw
        double total = 0;
        for (uint32_t id : cand) total += p[id];
        const double target = uniform01(rng_) * total;
        double acc = 0;
        chosen = cand.back();  // if rounding leaves target past the end
        for (uint32_t id : cand) {
            acc += p[id];
            if (target < acc) {
                chosen = id;
                break;
            }
        }
    }
    result.id = chosen;
    result.logprob = static_cast<float>(logits[chosen] - log_z);
    return result;
}

}  // namespace mq::rt
