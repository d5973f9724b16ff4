#include "runtime/speed_controller.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace mq::rt {

namespace {
// Steps the load factor averages: long enough to see through the stalls of a shared device,
// short enough to follow a change of load within a few tokens.
constexpr size_t kWindow = 8;
// One step counts as at most this many times its expected time, so a single long stall (a page
// fault, another process's burst) does not throw the budget to an end for a whole window.
constexpr double kMaxStall = 3.0;
// The first step after a prompt may include one-time work (recording a command buffer): it runs
// at the highest budget and is not used. Two steps at the highest and two at the lowest budget
// follow; the faster of each pair is kept (a stall only ever adds time).
constexpr uint32_t kWarmup = 1, kProbeSteps = 2;
// The budget moves at most this many bits per token once probing is over: where the budget
// hardly changes the speed (a small model on a busy device), the noise of each window would
// otherwise throw it from end to end.
constexpr float kMaxStep = 1.0f;
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
    if (s_ <= 0) return 0;  // not measured yet
    return 1.0 / (m_ * (a_ + s_ * bits));
}

void SpeedController::observe(double seconds, float bits) {
    seconds = std::max(seconds, 1e-9);
    const uint32_t step = steps_++;
    if (state_ == State::Probing) {
        if (step < kWarmup) return;  // next_ stays at the highest budget
        if (step < kWarmup + kProbeSteps) {
            if (step == kWarmup || seconds < probe_high_seconds_)
                probe_high_seconds_ = seconds, probe_high_bits_ = bits;
            if (step + 1 == kWarmup + kProbeSteps) next_ = min_bits_;
            return;
        }
        if (step == kWarmup + kProbeSteps || seconds < probe_low_seconds_)
            probe_low_seconds_ = seconds, probe_low_bits_ = bits;
        if (step + 1 < kWarmup + 2 * kProbeSteps) return;
        // The straight line through both probes. A slope the noise made flat or negative is
        // raised to a tenth of the step time over the range, so the budget keeps an effect.
        const double span = std::max(probe_high_bits_ - probe_low_bits_, 1e-3);
        const double floor_slope = 0.1 * probe_high_seconds_ / std::max(probe_high_bits_, 1.0);
        s_ = std::max((probe_high_seconds_ - probe_low_seconds_) / span, floor_slope);
        a_ = std::max(0.0, probe_high_seconds_ - s_ * probe_high_bits_);
        m_ = 1;
        choose();
        return;
    }
    const double modelled = a_ + s_ * bits;
    window_.emplace_back(std::min(seconds, kMaxStall * m_ * modelled), modelled);
    if (window_.size() > kWindow) window_.pop_front();
    double measured_sum = 0, modelled_sum = 0;
    for (const auto& [m, p] : window_) measured_sum += m, modelled_sum += p;
    m_ = measured_sum / modelled_sum;
    choose();
}

void SpeedController::choose() {
    const double wanted = (target_seconds_ / m_ - a_) / s_;
    const double bits = state_ == State::Probing ? wanted
                                                 : std::clamp(wanted, double(next_ - kMaxStep),
                                                              double(next_ + kMaxStep));
    if (wanted < min_bits_) {
        next_ = std::max(min_bits_, float(bits));
        // A little slack so a target right at the lowest budget's speed is not called
        // unreachable because of measurement noise.
        state_ =
            predicted_tps(min_bits_) < 0.97 * target_tps() ? State::Unreachable : State::Holding;
    } else if (wanted > max_bits_) {
        next_ = std::min(max_bits_, float(bits));
        state_ = State::AtMaxBits;
    } else {
        next_ = std::clamp(static_cast<float>(bits), min_bits_, max_bits_);
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
