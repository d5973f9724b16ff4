#include "runtime/batch_scheduler.hpp"

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "runtime/policy_forward.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}
}  // namespace

struct BatchScheduler::Sequence {
    SequenceRequest request;
    std::promise<SequenceResult> done;
    Sampler sampler;
    tok::StreamDecoder decoder;
    PolicyForward chooser;  // the request's policy; the batched step runs the forward
    uint32_t slot = 0;
    uint32_t pos = 0;            // tokens in this slot's cache
    std::vector<uint32_t> feed;  // tokens to run next (the prompt, then each sampled token)
    std::vector<uint32_t> history;
    GenerationStats stats;
    double bits_sum = 0, budget_sum = 0;
    std::unique_ptr<SpeedController> speed;  // with a tokens/s target
    Clock::time_point start, first_token, last_token;
    bool finished = false;

    Sequence(SequenceRequest r, ModelSession& session)
        : request(std::move(r)),
          sampler(request.sampling),
          decoder(session.tokenizer(), {.skip_special = true, .strip_leading_space = false}),
          chooser(session, request.policy) {
        if (request.target_tps) {
            float lo = 2.0f, hi = 8.0f;
            if (const auto& r = session.routers(); r && r->table.budgets.size() > 1)
                lo = r->table.budgets.front(), hi = r->table.budgets.back();
            speed = std::make_unique<SpeedController>(*request.target_tps, lo, hi);
            chooser.set_policy(DepthPolicy::budget(speed->next_budget()));
        }
        feed.assign(request.prompt.begin(), request.prompt.end());
        history = feed;
        stats.prompt_tokens = static_cast<uint32_t>(feed.size());
    }
};

BatchScheduler::BatchScheduler(ModelSession& session, SchedulerOptions options)
    : session_(session),
      parallel_(options.parallel),
      queue_limit_(options.queue),
      slot_context_(options.slot_context ? options.slot_context : session.forward().max_context()) {
    ForwardBackend& fwd = session_.forward();
    if (parallel_ == 0 || parallel_ > fwd.max_batch())
        fail("--parallel must be 1..{} (the forward's batch), got {}", fwd.max_batch(), parallel_);
    fwd.reserve_slots(parallel_, slot_context_);
    slot_used_.assign(parallel_, false);
    thread_ = std::thread([this] { loop(); });
}

BatchScheduler::~BatchScheduler() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void BatchScheduler::check(const SequenceRequest& r) const {
    if (r.prompt.empty()) fail("the prompt is empty");
    if (r.prompt.size() >= slot_context_)
        fail("the prompt has {} tokens but a sequence's context holds {}", r.prompt.size(),
             slot_context_);
    if (r.max_tokens == 0) fail("max_tokens must be at least 1");
    if (r.prompt.size() + r.max_tokens > slot_context_)
        fail("the prompt's {} tokens plus max_tokens {} exceed a sequence's context of {}",
             r.prompt.size(), r.max_tokens, slot_context_);
    for (int32_t id : r.prompt)
        if (id < 0 || id >= session_.tokenizer().n_vocab())
            fail("token id {} is not in the vocabulary", id);
    Sampler probe(r.sampling);  // throws for options out of range
    if (r.target_tps) {
        if (!session_.quantized())
            fail("a tokens/s target needs sliced weights (a MoBiQuant checkpoint)");
        SpeedController speed(*r.target_tps, 2.0f, 8.0f);  // throws for a bad target
    }
}

std::optional<std::future<SequenceResult>> BatchScheduler::submit(SequenceRequest request) {
    check(request);
    auto s = std::make_unique<Sequence>(std::move(request), session_);
    auto future = s->done.get_future();
    {
        std::lock_guard lock(mutex_);
        // Free slots take requests at once; beyond them the queue holds queue_limit_.
        const size_t free_slots = parallel_ - running_count_;
        if (stopping_ || waiting_.size() >= queue_limit_ + free_slots) return std::nullopt;
        waiting_.push_back(std::move(s));
    }
    wake_.notify_all();
    return future;
}

uint32_t BatchScheduler::active() const {
    std::lock_guard lock(mutex_);
    return running_count_;
}

uint32_t BatchScheduler::queued() const {
    std::lock_guard lock(mutex_);
    return static_cast<uint32_t>(waiting_.size());
}

void BatchScheduler::loop() {
    while (true) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
            if (stopping_) break;
        }
        admit();
        try {
            step();
        } catch (const std::exception& e) {
            for (auto& s : running_) finish(*s, e.what());
        }
        std::erase_if(running_, [&](const std::unique_ptr<Sequence>& s) {
            if (s->finished) slot_used_[s->slot] = false;
            return s->finished;
        });
        std::lock_guard lock(mutex_);
        running_count_ = static_cast<uint32_t>(running_.size());
    }
    for (auto& s : running_) finish(*s, "the server is shutting down");
    std::lock_guard lock(mutex_);
    for (auto& s : waiting_) finish(*s, "the server is shutting down");
    waiting_.clear();
}

void BatchScheduler::admit() {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty() && running_.size() < parallel_) {
        auto s = std::move(waiting_.front());
        waiting_.pop_front();
        s->slot = static_cast<uint32_t>(std::find(slot_used_.begin(), slot_used_.end(), false) -
                                        slot_used_.begin());
        slot_used_[s->slot] = true;
        s->start = Clock::now();
        running_.push_back(std::move(s));
    }
    running_count_ = static_cast<uint32_t>(running_.size());
}

void BatchScheduler::finish(Sequence& s, std::string error) {
    if (s.finished) return;
    s.finished = true;
    auto now = Clock::now();
    if (s.stats.generated) {
        s.stats.prefill_seconds = seconds_between(s.start, s.first_token);
        s.stats.decode_seconds = seconds_between(s.first_token, now);
        s.stats.mean_bits = s.bits_sum / s.stats.generated;
        if (s.speed) {
            s.stats.mean_budget = s.budget_sum / s.stats.generated;
            s.stats.speed_state = s.speed->state();
        }
    }
    s.done.set_value({s.stats, std::move(error)});
}

struct BatchScheduler::Part {
    Sequence* s;
    uint32_t n;  // tokens from the front of s->feed
};

struct BatchScheduler::Batch {
    std::vector<const Part*> parts;
    std::vector<uint32_t> tokens, positions, slots, rows;
    std::vector<TokenDepths> depths;
    std::vector<float> thresholds;
    std::vector<uint32_t> last_token;  // index of each part's last token in the batch
};

void BatchScheduler::step() {
    const std::vector<Part> parts = plan_step();
    // Routed sequences in one forward, sequences with chosen depths in another.
    for (bool routed : {true, false}) {
        const Batch batch = build_batch(parts, routed);
        if (!batch.parts.empty()) run_batch(batch);
    }
}

std::vector<BatchScheduler::Part> BatchScheduler::plan_step() const {
    // Tokens per sequence this step: one for each decoding sequence, then prompt chunks.
    std::vector<Part> parts;
    uint32_t room = session_.forward().max_batch();
    for (auto& s : running_)
        if (s->feed.size() == 1) parts.push_back({s.get(), 1}), --room;
    // Forward steps run at power-of-two sizes (padded): take as many prompt tokens as make the
    // step a power of two, when that leaves any.
    uint32_t pending = 0;
    for (auto& s : running_)
        if (s->feed.size() > 1) pending += static_cast<uint32_t>(s->feed.size());
    const uint32_t decoding = static_cast<uint32_t>(parts.size());
    const uint32_t total = decoding + std::min(pending, room);
    uint32_t target = 1;
    while (target * 2 <= total) target *= 2;
    if (target > decoding) room = target - decoding;
    for (auto& s : running_)
        if (s->feed.size() > 1 && room > 0) {
            uint32_t n = std::min<uint32_t>(room, static_cast<uint32_t>(s->feed.size()));
            parts.push_back({s.get(), n});
            room -= n;
        }
    return parts;
}

BatchScheduler::Batch BatchScheduler::build_batch(const std::vector<Part>& parts, bool routed) {
    const ForwardBackend& fwd = session_.forward();
    Batch b;
    for (const Part& p : parts)
        if ((fwd.quantized() && fwd.routed() && p.s->chooser.routed()) == routed)
            b.parts.push_back(&p);
    for (const Part* p : b.parts) {
        for (uint32_t i = 0; i < p->n; ++i) {
            b.tokens.push_back(p->s->feed[i]);
            b.positions.push_back(p->s->pos + i);
            b.slots.push_back(p->s->slot);
            if (!fwd.quantized()) continue;
            if (routed) {
                const auto& row = p->s->chooser.thresholds();
                b.thresholds.insert(b.thresholds.end(), row.begin(), row.end());
            } else {
                b.depths.push_back(p->s->chooser.next_depths());
            }
        }
        b.last_token.push_back(static_cast<uint32_t>(b.tokens.size() - 1));
        if (p->n == p->s->feed.size()) b.rows.push_back(b.last_token.back());
    }
    const uint32_t n_linears = session_.desc().n_layers * kLinearsPerLayer;
    if (routed && b.thresholds.size() != b.tokens.size() * n_linears)
        fail("router thresholds for {} of {} tokens", b.thresholds.size() / n_linears,
             b.tokens.size());
    return b;
}

void BatchScheduler::run_batch(const Batch& b) {
    const uint32_t vocab = session_.desc().vocab_size;
    std::vector<TokenDepths> used;
    std::vector<float> logits = session_.forward().forward_multi(
        b.tokens, b.positions, b.slots, b.depths, b.thresholds, b.rows, &used);
    size_t k = 0;  // logits row of the next sequence that ran the rest of its feed
    for (size_t g = 0; g < b.parts.size(); ++g) {
        Sequence& s = *b.parts[g]->s;
        s.pos += b.parts[g]->n;
        s.feed.erase(s.feed.begin(), s.feed.begin() + b.parts[g]->n);
        if (!s.feed.empty()) continue;  // more of its prompt next step
        std::span<const float> row(logits.data() + k++ * vocab, vocab);
        deliver_token(s, row, used.empty() ? TokenDepths{} : used[b.last_token[g]]);
    }
}

void BatchScheduler::deliver_token(Sequence& s, std::span<const float> logits, TokenDepths depths) {
    Sampler::Result r = s.sampler.sample(logits, s.history);
    TokenEvent ev;
    ev.id = r.id;
    ev.logprob = r.logprob;
    ev.top = std::move(r.top);
    ev.depths = std::move(depths);
    ev.bits = average_bits(ev.depths);
    const DepthPolicy& policy = s.chooser.policy();
    if (policy.kind == DepthPolicy::Kind::Budget) ev.budget = policy.bits;
    ev.position = s.pos;
    const bool end = session_.tokenizer().is_end_of_generation(static_cast<int32_t>(r.id));
    ev.text = end ? s.decoder.flush() : s.decoder.push(static_cast<int32_t>(r.id));
    const Clock::time_point now = Clock::now();
    if (s.stats.generated == 0) s.first_token = now;
    if (s.speed) {
        // The sequence's speed is the time between its tokens (the first follows the prompt,
        // which the controller does not model).
        if (s.stats.generated > 0) s.speed->observe(seconds_between(s.last_token, now), ev.bits);
        s.chooser.set_policy(DepthPolicy::budget(s.speed->next_budget()));
    }
    s.last_token = now;
    s.stats.generated++;
    s.bits_sum += ev.bits;
    s.budget_sum += ev.budget;
    s.history.push_back(r.id);
    const bool go_on = s.request.on_token(ev);
    if (end)
        s.stats.stop_reason = "end of text";
    else if (!go_on)
        s.stats.stop_reason = "stopped";
    else if (s.stats.generated >= s.request.max_tokens)
        s.stats.stop_reason = "length";
    else if (s.pos + 1 >= slot_context_)
        s.stats.stop_reason = "context full";
    else
        s.feed.push_back(r.id);
    if (s.feed.empty()) finish(s);
}

}  // namespace mq::rt
