#pragma once
// Progress of a long job (quantize, eval) for whoever shows it: a CLI progress bar or the desktop
// app. The job reports the fraction done; JobClock turns that into a time-left estimate.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "core/error.hpp"

namespace mq {

struct JobProgress {
    std::string stage;         // "layer 2/4: training routers"
    double fraction = 0;       // of the whole job, 0..1
    double seconds_left = -1;  // estimate; < 0 while unknown
};

using JobProgressFn = std::function<void(const JobProgress&)>;

class JobClock {
  public:
    explicit JobClock(JobProgressFn fn, const std::atomic<bool>* cancel = nullptr)
        : fn_(std::move(fn)), cancel_(cancel), start_(std::chrono::steady_clock::now()) {}

    // Reports (stage, fraction) and throws mq::Cancelled when the caller asked to stop.
    void report(const std::string& stage, double fraction) {
        if (cancel_ && cancel_->load()) throw Cancelled();
        if (!fn_) return;
        double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        // Below 2% done (or in the first seconds) the rate says little yet.
        double left = fraction > 0.02 && elapsed > 1.0 ? elapsed * (1.0 - fraction) / fraction : -1;
        fn_({stage, fraction, left});
    }
    // The last report: the work is done (a cancel arriving now no longer matters).
    void finish(const std::string& stage = "done") {
        if (fn_) fn_({stage, 1.0, 0.0});
    }

  private:
    JobProgressFn fn_;
    const std::atomic<bool>* cancel_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace mq
