#pragma once
// Perplexity of a text, with the protocol of assets/README.md: the text is tokenized in one call
// without BOS/EOS, cut into consecutive windows of `window` tokens, and each window w is run on
// [BOS] + w[:-1] from position 0 so every token is scored exactly once.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/depth_policy.hpp"
#include "runtime/model_session.hpp"
#include "runtime/policy_forward.hpp"

namespace mq::rt {

struct PerplexityResult {
    double ppl = 0;
    double stderr_ppl = 0;  // standard error (delta method on the mean negative log-likelihood)
    double bits = 32;       // achieved average bits over routed linears (32: unquantized)
    uint64_t tokens = 0;
    std::vector<float> token_nll;  // negative log-likelihood of every scored token, in text order
    // With a reference (ScoreCapture::kl_reference): KL(reference || this run) of every scored
    // token's next-token distribution, in nats, and their mean. Unlike the NLL it has no term
    // that is first order in the logits' error, so it measures quantization damage with far less
    // noise than perplexity does.
    std::vector<float> token_kl;
    double kl = 0;
};

// Log-probabilities of every scored token's next-token distribution, tokens x vocab.
struct TokenLogProbs {
    uint32_t vocab = 0;
    std::vector<float> values;
    size_t tokens() const { return vocab ? values.size() / vocab : 0; }
};

// The most log-probabilities the tools keep for a KL reference (tokens x vocab x 4 bytes).
constexpr uint64_t kMaxKeptLogProbBytes = uint64_t{1} << 30;
inline uint64_t kept_log_prob_bytes(uint64_t tokens, uint32_t vocab) {
    return tokens * vocab * sizeof(float);
}

// What a perplexity run records besides the result (all optional).
struct ScoreCapture {
    std::vector<TokenDepths>* used_depths = nullptr;  // the depths of every scored token
    TokenLogProbs* log_probs = nullptr;               // every scored token's log-probabilities
    const TokenLogProbs* kl_reference = nullptr;      // fill token_kl against these
};

using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

PerplexityResult perplexity(ModelSession& session, const std::string& text, DepthPolicy policy,
                            uint32_t window = 0,      // 0 = the session's context
                            uint64_t max_tokens = 0,  // 0 = all
                            const ProgressFn& progress = {}, const ScoreCapture& capture = {});

// The tokens perplexity() scores: the text encoded in one call without BOS/EOS, at most
// max_tokens of them (0 = all).
std::vector<int32_t> perplexity_ids(const tok::Tokenizer& tokenizer, const std::string& text,
                                    uint64_t max_tokens);

// The same on tokens already encoded (ids without BOS), with the forward and policy the caller
// set up (started over first, so a run does not depend on what the forward ran before).
PerplexityResult perplexity_of_ids(PolicyForward& forward, std::span<const int32_t> ids,
                                   int32_t bos, uint32_t window, const ProgressFn& progress = {},
                                   const ScoreCapture& capture = {});

}  // namespace mq::rt
