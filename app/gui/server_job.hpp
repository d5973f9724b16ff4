#pragma once
// The Models panel's server: `mobiquant serve` run from the app, on a session of its own (the
// chat keeps its model) and a thread of its own. The UI reads its state each frame.
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/api_server.hpp"

#include "runtime/forward_factory.hpp"

namespace mq::gui {

class ServerJob {
  public:
    enum class State { Stopped, Starting, Running, Failed };
    ~ServerJob();  // stops the server

    // Loads the model and serves it on 127.0.0.1 at `port`; false while one runs.
    bool start(const rt::ComputeDevice& device, const std::filesystem::path& model, int port,
               rt::DepthPolicy policy);
    void stop();

    State state() const;
    std::string address() const;  // http://127.0.0.1:PORT while running
    std::string error() const;    // why it failed
    uint64_t requests() const;

  private:
    mutable std::mutex mutex_;
    State state_ = State::Stopped;
    bool stop_requested_ = false;
    std::string address_, error_;
    std::unique_ptr<rt::ModelSession> session_;
    std::unique_ptr<server::ApiServer> server_;
    std::thread thread_;
};

}  // namespace mq::gui
