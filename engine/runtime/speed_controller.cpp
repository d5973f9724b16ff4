#include "runtime/speed_controller.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace mq::rt {

namespace {
// Share of the distance to each measured load factor that one step covers: 0.5 halves the
// error per step (a load change is followed within about four steps) and, being below 1, can
// never overshoot.
constexpr double kGain = 0.5;
// One step's measurement moves the load factor by at most this ratio either way, so a single
// stall (a page fault, another process's burst) does not throw the budget to an end.
constexpr double kMaxJump = 2.0;
// The first step after a prompt may include one-time work (recording a command buffer); it is
// run at the highest budget and not used, then the two probe steps follow.
enum ProbeStep : uint32_t { kWarmup = 0, kHigh = 1, kLow = 2 };
}  // namespace

SpeedController::SpeedController(double target_tps, float min_bits, float max_bits)
    : min_bits_(min_bits), max_bits_(max_bits), next_(max_bits) {
    if (!(min_bits < max_bits)) fail("the budget range {}..{} is empty", min_bits, max_bits);
    set_target(target_tps);
}

void SpeedController::set_target(double target_tps) {
    if (!(target_tps > 0) || !std::isfinite(target_tps))
        fail("the tokens/s target must be a positive number, got {}", target_tps);
    target_seconds_ = 1.0 / target_tps;
    if (state_ != State::Probing) choose();
}

double SpeedController::predicted_tps(float bits) const {
    if (state_ == State::Probing) return 0;
    return 1.0 / (m_ * (a_ + s_ * bits));
}

void SpeedController::observe(double seconds, float bits) {
    seconds = std::max(seconds, 1e-9);
    const uint32_t step = steps_++;
    if (state_ == State::Probing) {
        if (step == kWarmup) return;  // next_ stays at the highest budget
        if (step == kHigh) {
            probe_high_seconds_ = seconds;
            probe_high_bits_ = bits;
            next_ = min_bits_;
            return;
        }
        // kLow: the straight line through both probes. A slope the noise made flat or negative
        // is raised to a small share of the step time, so the budget still has an effect.
        const double span = std::max(probe_high_bits_ - bits, 1e-3);
        const double floor_slope = 0.02 * probe_high_seconds_ / std::max(probe_high_bits_, 1.0);
        s_ = std::max((probe_high_seconds_ - seconds) / span, floor_slope);
        a_ = std::max(0.0, probe_high_seconds_ - s_ * probe_high_bits_);
        if (a_ + s_ * bits <= 0) a_ = seconds;
        m_ = seconds / (a_ + s_ * bits);
        choose();
        return;
    }
    const double ratio = std::clamp(seconds / (a_ + s_ * bits), m_ / kMaxJump, m_ * kMaxJump);
    m_ += kGain * (ratio - m_);
    choose();
}

void SpeedController::choose() {
    const double bits = (target_seconds_ / m_ - a_) / s_;
    if (bits < min_bits_) {
        next_ = min_bits_;
        // A little slack so a target right at the lowest budget's speed is not called
        // unreachable because of measurement noise.
        state_ =
            predicted_tps(min_bits_) < 0.97 * target_tps() ? State::Unreachable : State::Holding;
    } else if (bits > max_bits_) {
        next_ = max_bits_;
        state_ = State::AtMaxBits;
    } else {
        next_ = static_cast<float>(bits);
        state_ = State::Holding;
    }
}

const char* speed_state_name(SpeedController::State state) {
    switch (state) {
        case SpeedController::State::Probing:
            return "probing";
        case SpeedController::State::Holding:
            return "holding";
        case SpeedController::State::Unreachable:
            return "unreachable (slower than the target even at the lowest budget)";
        case SpeedController::State::AtMaxBits:
            return "faster than the target at the highest budget";
    }
    return "?";
}

}  // namespace mq::rt
