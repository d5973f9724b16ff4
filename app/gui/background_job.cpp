#include "gui/background_job.hpp"

#include <cstdio>

#include "core/error.hpp"

namespace mq::gui {

const char* job_state_name(JobState s) {
    switch (s) {
        case JobState::Idle:
            return "idle";
        case JobState::Running:
            return "running";
        case JobState::Done:
            return "done";
        case JobState::Failed:
            return "failed";
        case JobState::Cancelled:
            return "cancelled";
    }
    return "?";
}

BackgroundJob::~BackgroundJob() {
    cancel();
    // The engine notices the flag between steps, which can take seconds in a long step.
    if (running()) std::fprintf(stderr, "gui: waiting for the %s job to stop\n", name_.c_str());
    if (thread_.joinable()) thread_.join();
}

bool BackgroundJob::start(Work work) {
    {
        std::lock_guard lk(mutex_);
        if (status_.state == JobState::Running) return false;
    }
    if (thread_.joinable()) thread_.join();  // the previous job has ended: this returns at once
    {
        std::lock_guard lk(mutex_);
        status_ = JobStatus{.finished = status_.finished};
        status_.state = JobState::Running;
        status_.stage = "starting";
        started_ = std::chrono::steady_clock::now();
    }
    cancel_ = false;
    thread_ = std::thread([this, work = std::move(work)] {
        auto progress = [this](const JobProgress& p) {
            std::lock_guard lk(mutex_);
            status_.stage = p.stage;
            status_.fraction = p.fraction;
            status_.seconds_left = p.seconds_left;
        };
        JobStatus end;
        try {
            end.result = work(progress, &cancel_);
            end.state = JobState::Done;
        } catch (const Cancelled&) {
            end.state = JobState::Cancelled;
        } catch (const std::exception& e) {
            end.state = JobState::Failed;
            end.error = e.what();
        }
        std::lock_guard lk(mutex_);
        status_.state = end.state;
        status_.error = end.error;
        status_.result = end.result;
        status_.finished++;
        if (end.state == JobState::Done) status_.fraction = 1, status_.seconds_left = 0;
        status_.elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        std::fprintf(stderr, "gui: %s %s after %.1f s%s%s\n", name_.c_str(),
                     job_state_name(end.state), status_.elapsed,
                     end.error.empty() && end.result.empty() ? "" : ": ",
                     (end.error.empty() ? end.result : end.error).c_str());
    });
    return true;
}

void BackgroundJob::cancel() {
    cancel_ = true;
}

void BackgroundJob::clear() {
    std::lock_guard lk(mutex_);
    if (status_.state != JobState::Running) status_ = JobStatus{.finished = status_.finished};
}

JobStatus BackgroundJob::status() const {
    std::lock_guard lk(mutex_);
    JobStatus s = status_;
    if (s.state == JobState::Running)
        s.elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return s;
}

}  // namespace mq::gui
