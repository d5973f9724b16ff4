#include "runtime/whatif.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "runtime/generator.hpp"
#include "runtime/policy_forward.hpp"

namespace mq::rt {

namespace {

std::vector<double> log_softmax(std::span<const float> logits) {
    const double mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float v : logits) sum += std::exp(v - mx);
    const double log_norm = mx + std::log(sum);
    std::vector<double> out(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_norm;
    return out;
}

std::string policy_label(const DepthPolicy& p) {
    switch (p.kind) {
        case DepthPolicy::Kind::Uniform:
            return fmt::format("depth {} ({} bits)", p.depth, 2 * p.depth);
        case DepthPolicy::Kind::Budget:
            return fmt::format("routed (budget {:.2f})", p.bits);
        case DepthPolicy::Kind::Mix:
            return fmt::format("mixed depths ({:.2f} bits)", p.bits);
        case DepthPolicy::Kind::Random:
            return "random depths";
    }
    return "?";
}

}  // namespace

double kl_divergence_from_logits(std::span<const float> p_logits, std::span<const float> q_logits) {
    if (p_logits.size() != q_logits.size() || p_logits.empty())
        fail("KL divergence of distributions of {} and {} entries", p_logits.size(),
             q_logits.size());
    std::vector<double> lp = log_softmax(p_logits), lq = log_softmax(q_logits);
    double kl = 0;
    for (size_t i = 0; i < lp.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    return std::max(0.0, kl);  // rounding can take identical distributions just below 0
}

WhatIfResult what_if(Generator& generator, std::span<const uint32_t> tokens, uint32_t at,
                     size_t top_k) {
    ModelSession& session = generator.session();
    if (!session.quantized())
        fail(
            "the what-if view needs sliced weights (a MoBiQuant checkpoint, or a plain model "
            "opened with a budget)");
    if (at < 1 || at > tokens.size())
        fail(
            "position {} is outside the sequence: it must be 1..{} (0 is the first prompt "
            "token, which nothing predicts)",
            at, tokens.size());
    if (at > session.forward().max_context())
        fail("position {} is beyond the context of {}", at, session.forward().max_context());

    WhatIfResult result;
    result.at = at;
    if (at < tokens.size()) result.actual = tokens[at];
    generator.feed(tokens.first(at - 1));  // the prefix's KV cache

    std::vector<DepthPolicy> policies;
    for (uint8_t d = 1; d <= 4; ++d) policies.push_back(DepthPolicy::uniform(d));
    policies.push_back(generator.policy());
    std::vector<std::vector<float>> logits;
    const uint32_t last = tokens[at - 1];
    for (const DepthPolicy& p : policies) {
        PolicyForward forward(session, p);
        PolicyForward::Result r = forward.run(std::span<const uint32_t>(&last, 1), at - 1, false);
        WhatIfRow row;
        row.label = policy_label(p);
        row.bits = r.depths.empty() ? 32.0f : average_bits(r.depths.back());
        result.rows.push_back(std::move(row));
        logits.push_back(std::move(r.logits));
    }
    generator.forget_from(at - 1);  // its slot now holds the last row's keys and values

    const tok::Tokenizer& tokenizer = session.tokenizer();
    tok::DecodeOptions dopt;
    dopt.skip_special = false;
    dopt.strip_leading_space = false;
    const std::vector<float>& full = logits[3];
    for (size_t i = 0; i < policies.size(); ++i) {
        WhatIfRow& row = result.rows[i];
        row.kl = i == 3 ? 0.0 : kl_divergence_from_logits(full, logits[i]);
        std::vector<double> lp = log_softmax(logits[i]);
        std::vector<uint32_t> order(lp.size());
        std::iota(order.begin(), order.end(), 0u);
        const size_t k = std::min(top_k, order.size());
        std::partial_sort(
            order.begin(), order.begin() + k, order.end(),
            [&](uint32_t a, uint32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
        for (size_t j = 0; j < k; ++j) {
            int32_t id = static_cast<int32_t>(order[j]);
            std::string text = tokenizer.decode(std::span<const int32_t>(&id, 1), dopt);
            if (text.empty()) text = tokenizer.token_text(id);
            row.top.push_back({order[j], std::move(text), static_cast<float>(std::exp(lp[id]))});
        }
        if (result.actual >= 0) row.actual_prob = static_cast<float>(std::exp(lp[result.actual]));
    }
    return result;
}

}  // namespace mq::rt
