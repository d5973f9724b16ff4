// mobiquant chat: an interactive conversation using the model's chat template. The KV cache is
// kept across turns, so each turn only feeds what is new.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "cli/sampling_options.hpp"
#include "cli/token_printer.hpp"
#include "core/error.hpp"
#include "runtime/generator.hpp"

namespace {

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
    mq::rt::Generator gen(*session, o.model.policy());
    const auto& tmpl = session->chat_template();
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    mq::cli::TokenPrinter printer(false, tty, o.model.weights);
    std::vector<mq::tok::ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    std::fprintf(stderr,
                 "Chatting with %s (%s template). /reset clears, /budget B or /depth K "
                 "changes precision, /quit ends.\n",
                 session->desc().name.c_str(), mq::tok::chat_family_name(tmpl.family()));
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
            std::vector<int32_t> ids = tmpl.encode(session->tokenizer(), messages, true);
            std::string reply;
            auto stats = gen.generate(ids, o.tokens, o.sampling, [&](const mq::rt::TokenEvent& ev) {
                if (!session->tokenizer().is_end_of_generation(static_cast<int32_t>(ev.id))) {
                    printer.print(ev);
                    reply += ev.text;
                }
            });
            messages.push_back({"assistant", reply});
            if (tty)
                printer.print_stats(stats, *session);
            else
                std::puts("");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            if (!messages.empty() && messages.back().role == "user") messages.pop_back();
        }
    }
    return 0;
}

mq::cli::Registration reg{
    "chat", "Chat with a model in the terminal (keeps the KV cache across turns)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        mq::cli::add_sampling_options(cmd, o->sampling);
        cmd.add_option("--system", o->system, "System message");
        cmd.add_option("-n,--tokens", o->tokens, "Longest reply in tokens")->capture_default_str();
        return [o] { return run(*o); };
    }};

}  // namespace
