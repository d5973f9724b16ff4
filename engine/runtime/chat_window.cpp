#include "runtime/chat_window.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mq::rt {

uint32_t chat_reply_room(uint32_t context) {
    return std::max<uint32_t>(16, context / 4);
}

ChatFit fit_chat(const tok::ChatTemplate& tmpl, const tok::Tokenizer& tokenizer,
                 std::vector<tok::ChatMessage>& messages, uint32_t context, uint32_t max_reply) {
    if (messages.empty()) fail("the conversation is empty");
    const uint32_t room = chat_reply_room(context);
    const size_t first = messages.front().role == "system" ? 1 : 0;
    ChatFit fit;
    while (true) {
        fit.prompt = tmpl.encode(tokenizer, messages, true);
        if (fit.prompt.size() + room <= context) break;
        // The oldest turn: from `first` up to (not including) the next user message.
        size_t end = first + 1;
        while (end < messages.size() && messages[end].role != "user") ++end;
        if (end >= messages.size())  // only the newest message is left
            fail(
                "the message does not fit: the prompt has {} tokens, and with {} kept for the "
                "reply the context of {} holds {}; shorten it or raise --context",
                fit.prompt.size(), room, context, context - std::min(room, context));
        fit.dropped += end - first;
        messages.erase(messages.begin() + first, messages.begin() + end);
    }
    const uint32_t used = static_cast<uint32_t>(fit.prompt.size());
    // Leave `room` for the next turn where the context allows it, else take what is left.
    const uint32_t limit = std::max(context - used > room ? context - used - room : 0, room);
    fit.max_reply = std::min({max_reply, limit, context - used - 1});
    return fit;
}

}  // namespace mq::rt
