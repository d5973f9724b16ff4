#include "runtime/perplexity.hpp"

#include <cmath>

#include "core/error.hpp"

namespace mq::rt {

std::vector<int32_t> perplexity_ids(const tok::Tokenizer& tokenizer, const std::string& text,
                                    uint64_t max_tokens) {
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::vector<int32_t> ids = tokenizer.encode(text, eo);
    if (max_tokens && ids.size() > max_tokens) ids.resize(max_tokens);
    return ids;
}

PerplexityResult perplexity(ModelSession& session, const std::string& text, DepthPolicy policy,
                            uint32_t window, uint64_t max_tokens, const ProgressFn& progress,
                            const ScoreCapture& capture) {
    std::vector<int32_t> ids = perplexity_ids(session.tokenizer(), text, max_tokens);
    PolicyForward forward(session, std::move(policy));
    return perplexity_of_ids(forward, ids, session.tokenizer().bos(), window, progress, capture);
}

PerplexityResult perplexity_of_ids(PolicyForward& forward, std::span<const int32_t> ids,
                                   int32_t bos, uint32_t window, const ProgressFn& progress,
                                   const ScoreCapture& capture) {
    forward.reset();
    const ForwardBackend& fwd = forward.forward();
    if (window == 0 || window > fwd.max_context()) window = fwd.max_context();
    if (ids.size() < 2) fail("the text has {} tokens; perplexity needs at least 2", ids.size());
    if (bos < 0) fail("the model's vocabulary has no BOS token to start each window");

    const uint32_t vocab = fwd.desc().vocab_size;
    const TokenLogProbs* ref = capture.kl_reference;
    if (ref && (ref->vocab != vocab || ref->tokens() != ids.size()))
        fail("the KL reference holds {} tokens of a {}-word vocabulary; this run scores {} of {}",
             ref->tokens(), ref->vocab, ids.size(), vocab);
    if (capture.log_probs) {
        capture.log_probs->vocab = vocab;
        capture.log_probs->values.clear();
        capture.log_probs->values.reserve(ids.size() * size_t(vocab));
    }
    double kl_sum = 0;
    double nll_sum = 0, nll_sq = 0, bits_sum = 0;
    uint64_t n = 0;
    PerplexityResult r;
    r.token_nll.reserve(ids.size());
    for (size_t start = 0; start < ids.size(); start += window) {
        size_t len = std::min<size_t>(window, ids.size() - start);
        std::vector<uint32_t> input{static_cast<uint32_t>(bos)};
        for (size_t j = 0; j + 1 < len; ++j) input.push_back(static_cast<uint32_t>(ids[start + j]));
        PolicyForward::Result step = forward.run(input, 0, true);
        const std::vector<float>& logits = step.logits;
        for (const TokenDepths& d : step.depths) bits_sum += average_bits(d);
        if (capture.used_depths)
            capture.used_depths->insert(capture.used_depths->end(), step.depths.begin(),
                                        step.depths.end());
        for (size_t j = 0; j < len; ++j) {
            const float* row = logits.data() + j * vocab;
            double mx = row[0];
            for (uint32_t v = 1; v < vocab; ++v) mx = std::max<double>(mx, row[v]);
            double sum = 0;
            for (uint32_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - mx);
            const double log_norm = mx + std::log(sum);  // log-probability = logit - log_norm
            double nll = -(row[ids[start + j]] - log_norm);
            if (capture.log_probs)
                for (uint32_t v = 0; v < vocab; ++v)
                    capture.log_probs->values.push_back(static_cast<float>(row[v] - log_norm));
            if (ref) {
                const float* lp = ref->values.data() + (n * size_t(vocab));
                double kl = 0;
                for (uint32_t v = 0; v < vocab; ++v)
                    kl += std::exp(double(lp[v])) * (lp[v] - (row[v] - log_norm));
                kl = std::max(0.0, kl);  // rounding can take an identical distribution below 0
                kl_sum += kl;
                r.token_kl.push_back(static_cast<float>(kl));
            }
            nll_sum += nll;
            nll_sq += nll * nll;
            r.token_nll.push_back(static_cast<float>(nll));
            n++;
        }
        if (progress) progress(n, ids.size());
    }
    r.tokens = n;
    double mean = nll_sum / n;
    double var = std::max(0.0, nll_sq / n - mean * mean);
    r.ppl = std::exp(mean);
    r.stderr_ppl = r.ppl * std::sqrt(var / n);
    r.bits = fwd.quantized() ? bits_sum / n : 32.0;
    r.kl = ref ? kl_sum / n : 0;
    return r;
}

}  // namespace mq::rt
