#pragma once
// Continuous batching for a server: up to `parallel` sequences decode together, each in its own
// KV cache slot (VulkanForward::forward_multi), each with its own sampler and depth policy. One
// thread runs the steps: every step carries one token of each decoding sequence plus prompt
// chunks of newly admitted ones, up to the forward's batch size. Sequences routed by a budget
// share one forward (each token with its own router thresholds); sequences with chosen depths
// (uniform, mix) share another. Requests beyond the free slots wait in a queue; a full queue
// refuses them. A sequence's tokens do not depend on what it was batched with.
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "runtime/generator.hpp"
#include "runtime/speed_controller.hpp"

namespace mq::rt {

struct SchedulerOptions {
    uint32_t parallel = 4;      // sequences decoding at once (KV slots)
    uint32_t queue = 64;        // requests waiting for a slot before submit refuses
    uint32_t slot_context = 0;  // positions per sequence; 0: the forward's max_context
};

struct SequenceRequest {
    std::vector<int32_t> prompt;
    uint32_t max_tokens = 16;
    SamplerOptions sampling;
    DepthPolicy policy;
    // Hold this many tokens/s instead: the budget moves from token to token (the policy is then
    // only the starting point). The speed is the sequence's own: time between its tokens.
    std::optional<double> target_tps;
    // Called on the scheduler thread with each token; return false to end the sequence there
    // (a stop string matched, the client went away).
    std::function<bool(const TokenEvent&)> on_token;
};

struct SequenceResult {
    GenerationStats stats;  // stop_reason: "length", "end of text", "stopped", "context full"
    std::string error;      // not empty when the sequence failed
};

class BatchScheduler {
  public:
    BatchScheduler(ModelSession& session, SchedulerOptions options = {});
    ~BatchScheduler();  // ends the running sequences with an error and joins the thread
    BatchScheduler(const BatchScheduler&) = delete;
    BatchScheduler& operator=(const BatchScheduler&) = delete;

    // Throws mq::Error for a request that can never run (empty prompt, prompt plus max_tokens
    // beyond a slot's context, ids outside the vocabulary, sampler options out of range).
    void check(const SequenceRequest& request) const;
    // Queues a checked request; nullopt when the queue is full.
    std::optional<std::future<SequenceResult>> submit(SequenceRequest request);

    uint32_t slot_context() const { return slot_context_; }
    uint32_t parallel() const { return parallel_; }
    uint32_t active() const;
    uint32_t queued() const;

  private:
    struct Sequence;
    struct Part;   // a sequence's tokens in one step
    struct Batch;  // one forward over some of a step's parts
    void loop();
    void admit();
    // A step: plan_step chooses each sequence's tokens, build_batch gathers the routed ones and
    // then the others into one forward each, run_batch runs it, and deliver_token samples the
    // next token of each sequence whose feed ran out, hands it on and ends the sequence if done.
    void step();
    std::vector<Part> plan_step() const;
    Batch build_batch(const std::vector<Part>& parts, bool routed);
    void run_batch(const Batch& batch);
    void deliver_token(Sequence& s, std::span<const float> logits, TokenDepths depths);
    void finish(Sequence& s, std::string error = {});

    ModelSession& session_;
    uint32_t parallel_, queue_limit_, slot_context_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Sequence>> waiting_;   // guarded by mutex_
    std::vector<std::unique_ptr<Sequence>> running_;  // scheduler thread only
    std::vector<bool> slot_used_;
    uint32_t running_count_ = 0;  // guarded by mutex_ (for active())
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace mq::rt
