// mobiquant serve: an OpenAI-compatible HTTP server on the model, with the bits of every token.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "server/api_server.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    mq::server::ServerOptions server;
};

volatile std::sig_atomic_t g_stop = 0;  // set by SIGINT / SIGTERM

int run(Options& o) {
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    auto session = o.model.open(device);
    o.server.policy = o.model.policy();
    if (o.server.model_id.empty()) o.server.model_id = o.model.model_path().stem().string();
    mq::server::ApiServer server(*session, o.server);
    auto on_signal = [](int) { g_stop = 1; };
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::fprintf(stderr, "Serving %s on %s (%u parallel sequences on %s%s); Ctrl-C stops.\n",
                 o.server.model_id.c_str(), server.address().c_str(), o.server.parallel,
                 session->device().name().c_str(),
                 o.server.api_key.empty() ? "" : ", API key required");
    std::printf("listening on %s\n", server.address().c_str());
    std::fflush(stdout);
    server.start();
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
    std::fprintf(stderr, "stopped after %llu requests\n",
                 static_cast<unsigned long long>(server.requests()));
    return 0;
}

mq::cli::Registration reg{
    "serve", "Serve the model over an OpenAI-compatible HTTP API (bits of every token included)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        auto& s = o->server;
        cmd.add_option("--host", s.host,
                       "Address to listen on (another than 127.0.0.1 exposes "
                       "the server to the network)")
            ->capture_default_str();
        cmd.add_option("--port", s.port, "Port (0: any free port; the chosen one is printed)")
            ->check(CLI::Range(0, 65535))
            ->capture_default_str();
        cmd.add_option("--api-key", s.api_key,
                       "Require \"Authorization: Bearer KEY\" on every endpoint");
        cmd.add_option("--parallel", s.parallel, "Sequences decoding together")
            ->check(CLI::Range(1u, 32u))
            ->capture_default_str();
        cmd.add_option("--queue", s.queue, "Requests waiting for a slot before 503")
            ->check(CLI::Range(0u, 1024u))
            ->capture_default_str();
        cmd.add_option("--ctx-size", s.context,
                       "Positions per sequence, prompt and answer (default: --context)");
        cmd.add_option("--model-id", s.model_id, "Model id to report (default: the file's name)");
        cmd.add_option("--max-body", s.max_body_bytes, "Largest request body in bytes")
            ->capture_default_str();
        return [o] { return run(*o); };
    }};

}  // namespace
