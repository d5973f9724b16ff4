#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace mq {

std::string format_duration(double s) {
    if (s < 0 || s > 1e7) return "?";
    int t = static_cast<int>(s + 0.5);
    if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
    if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{}s", t);
}

ProgressBar::ProgressBar(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total ? total : 1),
      tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
    finish();
}

void ProgressBar::update(uint64_t done) {
    done_ = done > total_ ? total_ : done;
    auto now = std::chrono::steady_clock::now();
    if (tty_) {
        if (now - last_draw_ > std::chrono::milliseconds(100) || done_ == total_) {
            last_draw_ = now;
            draw(false);
        }
    } else {
        int decile = static_cast<int>(10 * done_ / total_);
        if (decile != last_decile_) {
            last_decile_ = decile;
            draw(false);
        }
    }
}

void ProgressBar::finish() {
    if (finished_) return;
    finished_ = true;
    draw(true);
}

void ProgressBar::draw(bool final) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double frac = static_cast<double>(done_) / static_cast<double>(total_);
    double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    double left = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
    constexpr int width = 30;
    int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    // Within the first half second the rate says nothing yet (a bar made after its first item
    // would claim millions per second): leave rate and time left out until then.
    const bool early = !final && elapsed < 0.5;
    std::string timing = early ? std::string()
                               : fmt::format(" {:.1f}/s, {} {}", rate, final ? "took" : "left",
                                             format_duration(final ? elapsed : left));
    std::string line = fmt::format("{} [{}] {:3.0f}% {}/{}{}{}", label_, bar, 100 * frac, done_,
                                   total_, unit_.empty() ? "" : " " + unit_, timing);
    if (tty_) {
        std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
}

}  // namespace mq
