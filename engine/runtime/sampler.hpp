#pragma once
// Picks the next token from a logits vector: greedy, temperature, top-k, top-p, min-p and a
// repetition penalty, reproducible for a fixed seed.
//
// Order (Hugging Face's warper order, applied to the penalized logits):
//   1. repetition penalty (llama.cpp semantics): every distinct id among the last
//      `repetition_window` history tokens has its logit divided by the penalty when positive,
//      multiplied by it when negative;
//   2. temperature == 0 or top_k == 1: greedy (argmax, the lowest id on ties); stop;
//   3. p = softmax(logits / temperature) over the whole vocabulary;
//   4. top_k: keep the k most probable (ties broken by the lower id);
//   5. top_p: keep the smallest most-probable prefix whose mass reaches top_p (at least one);
//   6. min_p: keep those with p >= min_p * max p;
//   7. draw from what is left, renormalized, with one uniform from std::mt19937_64
//      (u = top 53 bits / 2^53, own conversion: no standard-library distribution is used, so a
//      seed gives the same tokens with any compiler).
// The reported logprob and alternatives come from the unmodified logits (temperature 1, no
// penalty, no truncation): log_softmax(logits)[id].
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace mq::rt {

struct SamplerOptions {
    float temperature = 0.8f;         // 0 = greedy
    uint32_t top_k = 40;              // 0 = off
    float top_p = 0.95f;              // 1 = off
    float min_p = 0.05f;              // 0 = off
    float repetition_penalty = 1.0f;  // 1 = off (as llama.cpp: --temp 0 is plain greedy decoding)
    uint32_t repetition_window = 64;  // last tokens of the history the penalty looks at
    uint64_t seed = 0;                // 0 = a random seed (std::random_device)
};

class Sampler {
  public:
    // Throws mq::Error for options out of range (negative temperature, top_p outside (0, 1],
    // min_p outside [0, 1], penalty <= 0).
    explicit Sampler(SamplerOptions options = {});

    struct Result {
        uint32_t id = 0;
        float logprob = 0;  // log-softmax of `id` under the unmodified logits
        // The 5 most likely tokens of the unmodified distribution (id, logprob), best first.
        std::vector<std::pair<uint32_t, float>> top;
    };

    // logits: [vocab], all finite (NaN or inf throws mq::Error). history: the tokens so far
    // (prompt and generated); ids outside the vocabulary are ignored.
    Result sample(std::span<const float> logits, std::span<const uint32_t> history);

    const SamplerOptions& options() const { return options_; }
    uint64_t seed() const { return seed_; }  // the seed in use (drawn when options.seed == 0)

  private:
    SamplerOptions options_;
    uint64_t seed_;
    std::mt19937_64 rng_;
};

}  // namespace mq::rt
