// mobiquant chat: an interactive conversation using the model's chat template. The KV cache is
// kept across turns, so each turn only feeds what is new; when a turn does not fit the context,
// the oldest turns are dropped (runtime/chat_window.hpp) and the conversation goes on.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "cli/sampling_options.hpp"
#include "cli/token_printer.hpp"
#include "core/error.hpp"
#include "runtime/chat_window.hpp"
#include "runtime/generator.hpp"

namespace {

// The whole conversation's decode speed and mean budget, for the line printed at the end.
struct SpeedTotals {
    mq::rt::GenerationStats stats;
    double budget_sum = 0;
    void add(const mq::rt::GenerationStats& s) {
        stats.generated += s.generated;
        stats.decode_seconds += s.decode_seconds;
        budget_sum += s.mean_budget * s.generated;
        if (stats.generated) stats.mean_budget = budget_sum / stats.generated;
        if (s.speed_state) stats.speed_state = s.speed_state;
    }
};

struct Options {
    mq::cli::ModelOptions model;
    mq::rt::SamplerOptions sampling;
    std::string system;
    uint32_t tokens = 256;
};

int run(const Options& o) {
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    auto session = o.model.open(device);
    auto generator = o.model.generator(*session);
    mq::rt::Generator& gen = *generator;
    const auto& tmpl = session->chat_template();
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    mq::cli::TokenPrinter printer(false, tty, o.model.weights);
    std::vector<mq::tok::ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    std::fprintf(stderr,
                 "Chatting with %s (%s template). /reset clears, /budget B or /depth K "
                 "changes precision, /quit ends.\n",
                 session->desc().name.c_str(), mq::tok::chat_family_name(tmpl.family()));
    SpeedTotals total;
    std::string line;
    while (true) {
        if (tty) std::fputs("\n> ", stdout);
        std::fflush(stdout);
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        try {
            if (line == "/quit" || line == "/exit") break;
            if (line == "/reset") {
                messages.resize(o.system.empty() ? 0 : 1);
                gen.reset();
                continue;
            }
            if (line.rfind("/budget ", 0) == 0) {
                gen.set_policy(mq::rt::DepthPolicy::budget(std::stof(line.substr(8))));
                continue;
            }
            if (line.rfind("/depth ", 0) == 0) {
                gen.set_policy(
                    mq::rt::DepthPolicy::uniform(static_cast<uint8_t>(std::stoi(line.substr(7)))));
                continue;
            }
            messages.push_back({"user", line});
            mq::rt::ChatFit fit = mq::rt::fit_chat(tmpl, session->tokenizer(), messages,
                                                   session->forward().max_context(), o.tokens);
            if (fit.dropped)
                std::fprintf(stderr,
                             "[context: dropped the %zu oldest message%s to make room; the "
                             "model no longer sees them]\n",
                             fit.dropped, fit.dropped == 1 ? "" : "s");
            std::string reply;
            auto stats = gen.generate(
                fit.prompt, fit.max_reply, o.sampling, [&](const mq::rt::TokenEvent& ev) {
                    if (!session->tokenizer().is_end_of_generation(static_cast<int32_t>(ev.id))) {
                        printer.print(ev);
                        reply += ev.text;
                    }
                });
            messages.push_back({"assistant", reply});
            total.add(stats);
            if (!tty) std::puts("");  // a piped reply ends its line; the stats go to stderr
            printer.print_stats(stats, *session);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            if (!messages.empty() && messages.back().role == "user") messages.pop_back();
        }
    }
    if (total.stats.speed_state) mq::cli::TokenPrinter::print_speed(total.stats);
    return 0;
}

mq::cli::Registration reg{
    "chat", "Chat with a model in the terminal (keeps the KV cache across turns)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        o->model.add_speed_target_to(cmd);
        mq::cli::add_sampling_options(cmd, o->sampling);
        cmd.add_option("--system", o->system, "System message");
        cmd.add_option("-n,--tokens", o->tokens,
                       "Longest reply in tokens (a reply also stops where it would leave less "
                       "than a quarter of the context for the next turn)")
            ->capture_default_str();
        return [o] { return run(*o); };
    }};

}  // namespace
