#pragma once
// A terminal progress bar with rate and time left, for long jobs (quantize, bench, eval).
// Draws to stderr only when it is a terminal, otherwise prints a line every ~10%.
#include <chrono>
#include <cstdint>
#include <string>

namespace mq {

class ProgressBar {
  public:
    ProgressBar(std::string label, uint64_t total, std::string unit = "");
    ~ProgressBar();
    void update(uint64_t done);  // absolute position
    void finish();

  private:
    void draw(bool final);
    std::string label_, unit_;
    uint64_t total_, done_ = 0;
    int last_decile_ = -1;
    bool tty_, finished_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace mq
