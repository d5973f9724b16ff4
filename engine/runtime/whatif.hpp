#pragma once
// What if this token had been read at another precision? Re-runs one position of a
// conversation from the KV cache of its prefix at uniform depth 1, 2, 3 and 4 and under the
// generator's own policy (the routed depths of its budget), and compares the next-token
// distributions: the top candidates of each and its KL divergence from depth 4.
//
// Positions count from 0 at the first token of the prompt (BOS included); "at N" is the
// distribution the model gives for token N after reading tokens 0..N-1, so the forward re-runs
// token N-1 at position N-1.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mq::rt {

class Generator;

struct WhatIfCandidate {
    uint32_t id = 0;
    std::string text;
    float prob = 0;
};

struct WhatIfRow {
    std::string label;  // "depth 1 (2 bits)" .. "depth 4 (8 bits)", "routed (budget 4.5)"
    float bits = 0;     // average bits the position read
    std::vector<WhatIfCandidate> top;  // most probable first
    double kl = 0;                     // KL(depth 4 || this row), nats
    float actual_prob = -1;            // probability of token N when it exists, else -1
};

struct WhatIfResult {
    uint32_t at = 0;
    int64_t actual = -1;          // token N's id when the sequence has it
    std::vector<WhatIfRow> rows;  // depth 1, 2, 3, 4, then the generator's policy
};

// `tokens` is the conversation (prompt and generation, at least `at` tokens; 1 <= at <=
// tokens.size()). The prefix tokens the generator's KV cache does not already hold are fed
// under its policy. The conversation is not changed: afterwards the generator forgets its cache
// from position at-1 on (that slot was overwritten), and its next generate() feeds it again.
// Throws mq::Error on an unquantized model or a position outside the sequence or the context.
WhatIfResult what_if(Generator& generator, std::span<const uint32_t> tokens, uint32_t at,
                     size_t top_k = 5);

// KL(p || q) in nats of two distributions given as logits.
double kl_divergence_from_logits(std::span<const float> p_logits, std::span<const float> q_logits);

}  // namespace mq::rt
