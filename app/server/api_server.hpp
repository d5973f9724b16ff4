#pragma once
// The OpenAI-compatible HTTP server (cpp-httplib): GET /health, GET /v1/models,
// POST /v1/chat/completions and /v1/completions (stream: true as server-sent events), with
// MoBiQuant's extensions: a request's "mobiquant": {"budget" | "depth", "depths"} and the bits
// (and depths) of every token in the answer. Requests decode together through a BatchScheduler.
// Each instance is stateless between requests, so several can run behind a load balancer.
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/depth_policy.hpp"
#include "runtime/model_session.hpp"

namespace mq::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;         // 0: any free port (port() tells which)
    std::string api_key;     // when set, every endpoint wants "Authorization: Bearer KEY"
    uint32_t parallel = 4;   // sequences decoding at once
    uint32_t queue = 16;     // requests waiting for a sequence slot before 503
    uint32_t context = 0;    // positions per sequence (0: the model session's context)
    rt::DepthPolicy policy;  // for requests that do not name a budget or depth
    std::string model_id;    // the id /v1/models lists
    size_t max_body_bytes = 1 << 20;
    uint32_t default_max_tokens = 256;
};

class ApiServer {
  public:
    // Binds the address (mq::Error when it cannot). Serving starts with run() or start().
    ApiServer(rt::ModelSession& session, ServerOptions options);
    ~ApiServer();  // stops serving and ends the running requests
    void run();    // serves until stop()
    void start();  // serves on a thread of its own
    void stop();
    std::string address() const;  // http://host:port
    int port() const;
    uint64_t requests() const;  // requests answered so far

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mq::server
