#pragma once
// Runs the engine off the UI thread: loads a model and generates replies on one worker thread,
// publishing every token into a ChatState the UI draws. The UI thread only takes the mutex for
// short reads, and steers a running generation through set_budget / stop (any thread).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gui/chat_state.hpp"
#include "runtime/forward_factory.hpp"
#include "runtime/generator.hpp"
#include "runtime/sampler.hpp"

namespace mq::gui {

class EngineWorker {
  public:
    // Models run on `device` (a Vulkan device, or the CPU backend).
    explicit EngineWorker(const rt::ComputeDevice& device);
    ~EngineWorker();  // stops generation and waits for the current job
    EngineWorker(const EngineWorker&) = delete;
    EngineWorker& operator=(const EngineWorker&) = delete;

    // Asynchronous requests from the UI thread.
    void open(const std::filesystem::path& path);
    bool send(const std::string& user_text);  // false while busy or without a model
    bool regenerate();                        // replaces the last reply
    void reset_chat();
    void stop();                  // cancels a running generation from the next token
    void set_budget(float bits);  // applies from the next token, also mid-reply
    // Holds a decode speed instead of a budget (set_budget goes back to bits).
    void set_speed_target(float tokens_per_second);
    // Re-runs the position of token `token` of turn `turn` at depths 1-4 and the routed depths
    // (after the running reply, if any); the result appears in what_if().
    bool request_what_if(size_t turn, size_t token);
    void set_sampling(const rt::SamplerOptions& options, uint32_t max_tokens);
    void set_log(const std::filesystem::path& path);  // one JSON line per generated token

    // State for drawing: hold the lock returned by lock() while reading it.
    std::unique_lock<std::mutex> lock() const { return std::unique_lock(mutex_); }
    Phase phase() const { return phase_; }
    const std::string& status() const { return status_; }
    const std::string& error() const { return error_; }
    const ModelInfo& info() const { return info_; }
    const std::vector<Turn>& turns() const { return turns_; }
    const LiveStats& stats() const { return stats_; }
    const std::vector<float>& bits_history() const { return bits_history_; }
    const std::vector<TokenTrace>& trace() const { return trace_; }
    const WhatIfView& what_if() const { return what_if_; }
    float budget() const { return budget_; }
    float speed_target() const { return speed_target_; }  // 0: the budget is the knob
    bool phase_is_loading() const {
        std::lock_guard lk(mutex_);
        return phase_ == Phase::Loading;
    }

  private:
    void post(std::function<void()> job);
    void loop();
    void load(const std::filesystem::path& path);
    void generate();
    void on_token(const rt::TokenEvent& ev, std::chrono::steady_clock::time_point t0);
    void run_what_if(std::vector<uint32_t> sequence, uint32_t at);
    void forget_what_if();  // its token is gone (regenerated, new chat); under mutex_

    rt::ComputeDevice device_;
    mutable std::mutex mutex_;  // guards everything below except the engine objects
    Phase phase_ = Phase::NoModel;
    std::string status_ = "no model", error_;
    ModelInfo info_;
    std::vector<Turn> turns_;
    LiveStats stats_;
    std::vector<float> bits_history_;
    std::vector<TokenTrace> trace_;
    WhatIfView what_if_;
    float budget_ = 8.0f;
    float speed_target_ = 0;
    rt::SamplerOptions sampling_;
    uint32_t max_tokens_ = 256;
    std::ofstream log_;
    std::chrono::steady_clock::time_point first_token_;
    std::deque<std::chrono::steady_clock::time_point> recent_token_times_;  // for trace_.tps

    // Engine objects: created and used on the worker thread; generator_ is also reached from the
    // UI thread (set_policy, cancel) under generator_mutex_.
    std::unique_ptr<rt::ModelSession> session_;
    std::unique_ptr<rt::Generator> generator_;
    std::mutex generator_mutex_;

    std::mutex jobs_mutex_;
    std::condition_variable jobs_cv_;
    std::deque<std::function<void()>> jobs_;
    bool quit_ = false;
    std::thread thread_;
};

}  // namespace mq::gui
