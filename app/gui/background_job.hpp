#pragma once
// One long engine job (quantize, eval) on its own thread, so the UI keeps drawing: the job reports
// JobProgress, the UI reads a snapshot each frame and can cancel it. Plain C++: no ImGui, no
// Vulkan.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/job_progress.hpp"

namespace mq::gui {

enum class JobState { Idle, Running, Done, Failed, Cancelled };
const char* job_state_name(JobState s);  // "idle", "running", "done", "failed", "cancelled"

struct JobStatus {
    JobState state = JobState::Idle;
    std::string stage;         // the job's last reported stage
    double fraction = 0;       // 0..1
    double seconds_left = -1;  // < 0 while unknown
    double elapsed = 0;        // seconds since start (frozen when it ends)
    std::string error;         // Failed: the readable message
    std::string result;        // Done: what the job returned (e.g. the file it wrote)
    uint64_t finished = 0;     // jobs ended so far (tells the UI that a new outcome arrived)
};

class BackgroundJob {
  public:
    // The work gets the progress callback and the cancel flag to hand to the engine; it returns a
    // short result text. mq::Cancelled ends it as Cancelled, any other exception as Failed.
    using Work = std::function<std::string(const JobProgressFn&, const std::atomic<bool>*)>;

    explicit BackgroundJob(std::string name) : name_(std::move(name)) {}
    ~BackgroundJob();  // cancels and waits
    BackgroundJob(const BackgroundJob&) = delete;
    BackgroundJob& operator=(const BackgroundJob&) = delete;

    bool start(Work work);  // false while one is running
    void cancel();          // from the next check of the flag in the engine
    void clear();           // forget a finished job's outcome (back to Idle)
    JobStatus status() const;
    bool running() const { return status().state == JobState::Running; }

  private:
    std::string name_;
    mutable std::mutex mutex_;
    JobStatus status_;
    std::chrono::steady_clock::time_point started_;
    std::atomic<bool> cancel_{false};
    std::thread thread_;
};

}  // namespace mq::gui
