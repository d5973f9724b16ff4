#include "cli/job_printer.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "core/progress.hpp"

namespace mq::cli {

namespace {
double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

void JobPrinter::operator()(const JobProgress& p) {
    bool tty = isatty(STDERR_FILENO);
    int decile = static_cast<int>(p.fraction * 10);
    bool new_stage = p.stage != last_stage_;
    double t = now_seconds();
    if (tty ? (!new_stage && t - last_draw_ < 0.1 && p.fraction < 1.0)
            : (!new_stage && decile == last_decile_))
        return;
    last_stage_ = p.stage;
    last_decile_ = decile;
    last_draw_ = t;
    constexpr int width = 30;
    std::string bar(static_cast<size_t>(p.fraction * width), '#');
    bar.resize(width, '.');
    std::string line = fmt::format("{} [{}] {:3.0f}%  left {}  {}", job_, bar, 100 * p.fraction,
                                   format_duration(p.seconds_left), p.stage);
    if (tty) {
        std::fprintf(stderr, "\r%s\033[K", line.c_str());
        open_line_ = true;
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
}

void JobPrinter::finish() {
    if (open_line_) std::fprintf(stderr, "\n");
    open_line_ = false;
}

}  // namespace mq::cli
