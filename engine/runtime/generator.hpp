#pragma once
// The token stream: prompt in, tokens out one at a time, each with its text, id, log-prob and the
// depth it used in every routed linear of every layer. The caller may cancel at any time and
// change the depth policy (budget) between tokens; the KV cache is kept across calls, so a chat
// only feeds the new part of the conversation.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/depth_policy.hpp"
#include "runtime/model_session.hpp"
#include "runtime/policy_forward.hpp"
#include "runtime/sampler.hpp"
#include "runtime/speed_controller.hpp"

namespace mq::rt {

struct TokenEvent {
    uint32_t id = 0;
    std::string text;  // complete UTF-8 only (a split character arrives with its last token)
    float logprob = 0;
    std::vector<std::pair<uint32_t, float>> top;  // alternatives (id, logprob)
    TokenDepths depths;                           // empty for an unquantized model
    float bits = 32;   // average over routed linears (32 when unquantized)
    float budget = 0;  // the bit budget the step ran under (0 under a uniform depth)
    uint32_t position = 0;
};

struct GenerationStats {
    uint32_t prompt_tokens = 0;  // fed this call (after reusing the cache)
    uint32_t reused_tokens = 0;  // already in the cache
    uint32_t generated = 0;
    double prefill_seconds = 0, decode_seconds = 0;
    double mean_bits = 32;
    std::string stop_reason;  // "length", "end of text", "cancelled", "context full"
    // Under a tokens/s target: the mean budget the controller chose and where it ended.
    double mean_budget = 0;
    std::optional<SpeedController::State> speed_state;

    double prefill_tps() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
    double decode_tps() const { return decode_seconds > 0 ? generated / decode_seconds : 0; }
};

class Generator {
  public:
    Generator(ModelSession& session, DepthPolicy policy);

    GenerationStats generate(std::span<const int32_t> prompt, uint32_t max_new_tokens,
                             const SamplerOptions& sampling,
                             const std::function<void(const TokenEvent&)>& on_token);

    // The errors generate() would raise for this prompt (empty, longer than the context, ids
    // outside the vocabulary), for callers that check before they print anything.
    void check_prompt(std::span<const int32_t> prompt) const;

    void set_policy(DepthPolicy policy);  // any thread; applies from the next token
    DepthPolicy policy() const;
    // Holds a decode speed instead: a controller moves the budget from token to token (see
    // runtime/speed_controller.hpp). Any thread; applies from the next token; set_policy ends
    // it. Throws mq::Error on an unquantized model or a target that is not positive.
    void set_speed_target(double tokens_per_second);
    std::optional<double> speed_target() const;
    // What the speed controller reports (nullopt without a target or before its first token).
    std::optional<SpeedController::State> speed_state() const;
    void cancel() { cancelled_ = true; }  // any thread
    void reset();                         // forget the KV cache
    const std::vector<uint32_t>& cached_tokens() const { return cache_; }
    // Makes the KV cache hold exactly `tokens`: the common prefix is kept, the rest is fed under
    // the policy (no token is sampled).
    void feed(std::span<const uint32_t> tokens);
    ModelSession& session() { return session_; }
    // Forgets the cache from `position` on (another computation overwrote it); the next
    // generate() feeds those tokens again.
    void forget_from(uint32_t position);

  private:
    void apply_pending_policy();
    void observe_step(double seconds, const TokenDepths& depths);
    // Runs tokens under the policy and returns the depths of the last one.
    std::vector<float> run(std::span<const uint32_t> tokens, uint32_t pos, TokenDepths& last);
    ModelSession& session_;
    mutable std::mutex policy_mutex_;
    std::optional<DepthPolicy> pending_;      // set from any thread, applied before the next token
    std::optional<double> target_;            // tokens/s asked for (guarded like pending_)
    std::unique_ptr<SpeedController> speed_;  // generating thread only; follows target_
    float last_budget_ = 0;                   // the budget of the last run()
    PolicyForward forward_;                   // used by the generating thread only
    std::atomic<bool> cancelled_{false};
    std::vector<uint32_t> cache_;  // tokens whose keys and values are in the cache, in order
};

}  // namespace mq::rt
