#include "gui/server_job.hpp"

#include "runtime/model_session.hpp"

namespace mq::gui {

ServerJob::~ServerJob() {
    stop();
}

bool ServerJob::start(const rt::ComputeDevice& device, const std::filesystem::path& model, int port,
                      rt::DepthPolicy policy) {
    std::lock_guard lock(mutex_);
    if (state_ == State::Starting || state_ == State::Running) return false;
    if (thread_.joinable()) thread_.join();
    state_ = State::Starting;
    stop_requested_ = false;
    error_.clear();
    thread_ = std::thread([this, device, model, port, policy] {
        try {
            auto session = std::make_unique<rt::ModelSession>(device, model);
            server::ServerOptions o;
            o.port = port;
            o.policy = policy;
            o.model_id = model.stem().string();
            auto server = std::make_unique<server::ApiServer>(*session, o);
            server::ApiServer* s = server.get();
            {
                std::lock_guard lock(mutex_);
                if (stop_requested_) {  // stop() came while the model loaded
                    state_ = State::Stopped;
                    return;
                }
                session_ = std::move(session);
                server_ = std::move(server);
                address_ = s->address();
                state_ = State::Running;
            }
            s->run();  // until stop()
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            error_ = e.what();
            state_ = State::Failed;
        }
    });
    return true;
}

void ServerJob::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
        if (server_) server_->stop();
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    server_.reset();
    session_.reset();
    if (state_ != State::Failed) state_ = State::Stopped;
}

ServerJob::State ServerJob::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

std::string ServerJob::address() const {
    std::lock_guard lock(mutex_);
    return address_;
}

std::string ServerJob::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

uint64_t ServerJob::requests() const {
    std::lock_guard lock(mutex_);
    return server_ ? server_->requests() : 0;
}

}  // namespace mq::gui
