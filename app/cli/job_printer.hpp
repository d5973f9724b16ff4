#pragma once
// Prints a long job's progress (mq::JobProgress) on stderr: a redrawn bar on a terminal, one line
// per stage and every ~10% otherwise.
#include <string>

#include "core/job_progress.hpp"

namespace mq::cli {

class JobPrinter {
  public:
    explicit JobPrinter(std::string job) : job_(std::move(job)) {}
    ~JobPrinter() { finish(); }
    void operator()(const JobProgress& p);
    void finish();  // ends the line on a terminal

  private:
    std::string job_, last_stage_;
    int last_decile_ = -1;
    bool open_line_ = false;
    double last_draw_ = -1;
};

}  // namespace mq::cli
