#pragma once
// The body of POST /v1/chat/completions and /v1/completions, read and checked. Known fields
// with the wrong type or out of range raise ApiError (400, naming the field); unknown fields
// are ignored, as OpenAI clients send extras.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/depth_policy.hpp"
#include "runtime/sampler.hpp"
#include "tokenizer/chat_template.hpp"

namespace mq::server {

// The sampler gives the 5 most likely alternatives of every token.
constexpr uint32_t kMaxTopLogprobs = 5;

struct ApiRequest {
    bool chat = true;
    std::string model;
    std::vector<tok::ChatMessage> messages;  // chat
    std::string prompt;                      // completions
    std::optional<uint32_t> max_tokens;
    rt::SamplerOptions sampling;  // OpenAI's meaning: no top-k, min-p or repetition penalty
    std::vector<std::string> stop;
    bool stream = false;
    bool logprobs = false;
    uint32_t top_logprobs = 0;
    std::optional<rt::DepthPolicy> policy;  // "mobiquant": {"budget": B} or {"depth": K}
    bool depths = false;                    // "mobiquant": {"depths": true}
    std::optional<double> target_tps;       // "mobiquant": {"target_tps": X}
};

ApiRequest parse_request(std::string_view body, bool chat);

}  // namespace mq::server
