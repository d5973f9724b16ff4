// Long conversations: fit_chat drops the oldest turns (never the system message) until the
// prompt leaves room for a reply, and caps the reply so the next turn fits.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/error.hpp"
#include "runtime/chat_window.hpp"
#include "runtime/model_session.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

TEST_CASE_FIXTURE(VulkanFixture,
                  "chat window: old turns go, the system message and the new one stay") {
    rt::ModelSession session(ctx, fs::path(MQ_SOURCE_DIR) / "assets" / "default-mobiquant.gguf",
                             {.context = 128});
    const auto& tmpl = session.chat_template();
    const auto& tok = session.tokenizer();
    const uint32_t context = 128, room = rt::chat_reply_room(context);
    CHECK(room == 32);
    const std::string long_text(200, 'a');  // a few dozen tokens
    std::vector<tok::ChatMessage> messages{{"system", "Be brief."}};
    for (int i = 0; i < 4; ++i) {
        messages.push_back({"user", "Question " + std::to_string(i) + " " + long_text});
        messages.push_back({"assistant", "Answer " + std::to_string(i) + " " + long_text});
    }
    messages.push_back({"user", "The newest question?"});
    const size_t before = messages.size();
    rt::ChatFit fit = rt::fit_chat(tmpl, tok, messages, context, 256);
    CHECK(fit.dropped > 0);
    CHECK(fit.dropped % 2 == 0);  // whole turns: a question and its answer
    CHECK(messages.size() == before - fit.dropped);
    CHECK(messages.front().role == "system");
    CHECK(messages.back().content == "The newest question?");
    CHECK(messages[1].role == "user");
    CHECK(fit.prompt == tmpl.encode(tok, messages, true));
    CHECK(fit.prompt.size() + room <= context);
    // The reply leaves a quarter of the context for the next turn where it can.
    CHECK(fit.max_reply >= room);
    CHECK(fit.prompt.size() + fit.max_reply < context);
    if (context - fit.prompt.size() > 2 * room)
        CHECK(fit.prompt.size() + fit.max_reply + room == context);

    // A conversation that fits is left alone, and a short reply limit is kept.
    std::vector<tok::ChatMessage> short_chat{{"user", "Hello"}};
    rt::ChatFit small = rt::fit_chat(tmpl, tok, short_chat, context, 10);
    CHECK(small.dropped == 0);
    CHECK(small.max_reply == 10);

    // One message longer than the context can ever hold is an error, not a loop.
    std::vector<tok::ChatMessage> huge{{"system", "Be brief."}, {"user", std::string(2000, 'b')}};
    CHECK_THROWS_WITH_AS(rt::fit_chat(tmpl, tok, huge, context, 256),
                         doctest::Contains("does not fit"), Error);
}
