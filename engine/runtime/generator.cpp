#include "runtime/generator.hpp"

#include <chrono>

#include "core/error.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Generator::Generator(ModelSession& session, DepthPolicy policy)
    : session_(session), forward_(session, std::move(policy)) {}

void Generator::set_policy(DepthPolicy policy) {
    std::lock_guard lock(policy_mutex_);
    pending_ = std::move(policy);
    target_.reset();
}

void Generator::set_speed_target(double tokens_per_second) {
    if (!session_.quantized())
        fail(
            "a tokens/s target needs sliced weights (a MoBiQuant checkpoint, or a plain model "
            "opened with a budget)");
    SpeedController check(tokens_per_second, 2.0f, 8.0f);  // throws for a bad target
    std::lock_guard lock(policy_mutex_);
    target_ = tokens_per_second;
}

std::optional<double> Generator::speed_target() const {
    std::lock_guard lock(policy_mutex_);
    return target_;
}

void Generator::feed(std::span<const uint32_t> tokens) {
    size_t keep = 0;
    while (keep < cache_.size() && keep < tokens.size() && cache_[keep] == tokens[keep]) ++keep;
    cache_.resize(keep);
    if (keep == tokens.size()) return;
    if (tokens.size() >= session_.forward().max_context())
        fail("{} tokens do not fit the context of {}", tokens.size(),
             session_.forward().max_context());
    TokenDepths last;
    run(tokens.subspan(keep), static_cast<uint32_t>(keep), last);
    cache_.insert(cache_.end(), tokens.begin() + keep, tokens.end());
}

std::optional<SpeedController::State> Generator::speed_state() const {
    std::lock_guard lock(policy_mutex_);
    if (!speed_) return std::nullopt;
    return speed_->state();
}

void Generator::forget_from(uint32_t position) {
    if (position < cache_.size()) cache_.resize(position);
}

DepthPolicy Generator::policy() const {
    std::lock_guard lock(policy_mutex_);
    return pending_ ? *pending_ : forward_.policy();
}

void Generator::apply_pending_policy() {
    std::lock_guard lock(policy_mutex_);
    if (pending_) forward_.set_policy(std::move(*pending_));
    pending_.reset();
    if (!target_) {
        speed_.reset();
        return;
    }
    if (!speed_) {
        // The budgets the checkpoint's table covers (2..8 bits without one).
        float lo = 2.0f, hi = 8.0f;
        if (const auto& r = session_.routers(); r && r->table.budgets.size() > 1)
            lo = r->table.budgets.front(), hi = r->table.budgets.back();
        speed_ = std::make_unique<SpeedController>(*target_, lo, hi);
    } else if (speed_->target_tps() != *target_) {
        speed_->set_target(*target_);
    }
    if (forward_.policy().kind != DepthPolicy::Kind::Budget ||
        forward_.policy().bits != speed_->next_budget())
        forward_.set_policy(DepthPolicy::budget(speed_->next_budget()));
}

void Generator::observe_step(double seconds, const TokenDepths& depths) {
    std::lock_guard lock(policy_mutex_);
    if (speed_) speed_->observe(seconds, average_bits(depths));
}

std::vector<float> Generator::run(std::span<const uint32_t> tokens, uint32_t pos,
                                  TokenDepths& last) {
    apply_pending_policy();
    PolicyForward::Result r = forward_.run(tokens, pos, false);
    last = r.depths.empty() ? TokenDepths{} : r.depths.back();
    const DepthPolicy& p = forward_.policy();
    last_budget_ =
        p.kind == DepthPolicy::Kind::Budget || p.kind == DepthPolicy::Kind::Mix ? p.bits : 0;
    return std::move(r.logits);
}

void Generator::reset() {
    cache_.clear();
    forward_.reset();
}

void Generator::check_prompt(std::span<const int32_t> prompt) const {
    const uint32_t context = session_.forward().max_context();
    if (prompt.empty()) fail("the prompt is empty");
    if (prompt.size() >= context)
        fail("the prompt has {} tokens but the context holds {}; shorten it or raise --context",
             prompt.size(), context);
    for (int32_t id : prompt)
        if (id < 0 || id >= session_.tokenizer().n_vocab())
            fail("token id {} is not in the vocabulary", id);
}

GenerationStats Generator::generate(std::span<const int32_t> prompt, uint32_t max_new_tokens,
                                    const SamplerOptions& sampling,
                                    const std::function<void(const TokenEvent&)>& on_token) {
    cancelled_ = false;
    ForwardBackend& fwd = session_.forward();
    const tok::Tokenizer& tokenizer = session_.tokenizer();
    const uint32_t context = fwd.max_context();
    check_prompt(prompt);

    // Reuse the cache for the longest common prefix, but always feed at least one token.
    size_t keep = 0;
    while (keep < cache_.size() && keep + 1 < prompt.size() &&
           cache_[keep] == static_cast<uint32_t>(prompt[keep]))
        ++keep;
    cache_.resize(keep);
    std::vector<uint32_t> feed(prompt.begin() + keep, prompt.end());

    GenerationStats stats;
    stats.reused_tokens = static_cast<uint32_t>(keep);
    stats.prompt_tokens = static_cast<uint32_t>(feed.size());
    double bits_sum = 0, budget_sum = 0;
    uint32_t bits_count = 0;

    TokenDepths last_depths;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> logits = run(feed, static_cast<uint32_t>(keep), last_depths);
    stats.prefill_seconds = seconds_since(t0);
    cache_.insert(cache_.end(), feed.begin(), feed.end());

    Sampler sampler(sampling);
    tok::DecodeOptions dopt;
    dopt.strip_leading_space = false;
    tok::StreamDecoder decoder(tokenizer, dopt);
    std::vector<uint32_t> history(cache_.begin(), cache_.end());
    t0 = std::chrono::steady_clock::now();
    // A decode step, for the speed target, is all that lies between two tokens' logits:
    // sampling, the caller's handling of the token and the forward.
    auto step_end = t0;
    stats.stop_reason = "length";
    for (uint32_t n = 0; n < max_new_tokens; ++n) {
        if (cancelled_) {
            stats.stop_reason = "cancelled";
            break;
        }
        Sampler::Result r = sampler.sample(logits, history);
        TokenEvent ev;
        ev.id = r.id;
        ev.logprob = r.logprob;
        ev.top = std::move(r.top);
        ev.depths = last_depths;  // the depths of the step that produced these logits
        ev.bits = last_depths.empty() ? 32.0f : average_bits(last_depths);
        ev.budget = last_budget_;
        ev.position = static_cast<uint32_t>(cache_.size());
        bool end = tokenizer.is_end_of_generation(static_cast<int32_t>(r.id));
        ev.text = end ? decoder.flush() : decoder.push(static_cast<int32_t>(r.id));
        bits_sum += ev.bits;
        budget_sum += ev.budget;
        bits_count++;
        stats.generated++;
        on_token(ev);
        history.push_back(r.id);
        if (end) {
            stats.stop_reason = "end of text";
            break;
        }
        if (cache_.size() + 1 >= context) {
            stats.stop_reason = "context full";
            break;
        }
        if (n + 1 == max_new_tokens || cancelled_) {
            if (cancelled_) stats.stop_reason = "cancelled";
            break;
        }
        uint32_t id = r.id;
        logits = run(std::span<const uint32_t>(&id, 1), static_cast<uint32_t>(cache_.size()),
                     last_depths);
        cache_.push_back(id);
        const auto now = std::chrono::steady_clock::now();
        observe_step(std::chrono::duration<double>(now - step_end).count(), last_depths);
        step_end = now;
    }
    stats.decode_seconds = seconds_since(t0);
    stats.mean_bits = bits_count ? bits_sum / bits_count : 32;
    {
        std::lock_guard lock(policy_mutex_);
        if (speed_) {
            stats.mean_budget = bits_count ? budget_sum / bits_count : 0;
            stats.speed_state = speed_->state();
        }
    }
    return stats;
}

}  // namespace mq::rt
