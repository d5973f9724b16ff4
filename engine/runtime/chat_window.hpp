#pragma once
// Keeps a conversation inside the context. When the next turn does not fit, the oldest turns
// are dropped (a leading system message stays) until the prompt leaves room for a reply; the
// Generator then rebuilds its KV cache from what is kept (it reuses only the common prefix).
// A reply's length is capped so that it leaves room for the next turn, instead of running until
// the context is full.
#include <cstdint>
#include <vector>

#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::rt {

// Tokens kept free for the reply (and the next question): a quarter of the context, at least 16.
uint32_t chat_reply_room(uint32_t context);

struct ChatFit {
    std::vector<int32_t> prompt;  // the kept messages, encoded with the generation prompt
    size_t dropped = 0;           // messages removed from the front (after the system message)
    uint32_t max_reply = 0;       // the reply's length limit (at most the one asked for)
};

// Removes whole turns (a user message and the replies up to the next user message) from the
// front of `messages` until the prompt plus chat_reply_room(context) fits. Throws mq::Error
// when the last message alone is too long.
ChatFit fit_chat(const tok::ChatTemplate& tmpl, const tok::Tokenizer& tokenizer,
                 std::vector<tok::ChatMessage>& messages, uint32_t context, uint32_t max_reply);

}  // namespace mq::rt
