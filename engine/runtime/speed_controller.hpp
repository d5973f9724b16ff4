#pragma once
// Holds a decode speed (tokens/s) by moving the bit budget from token to token: when another
// program takes the device, precision drops instead of speed.
//
// The controller models a step's time as m * (a + s * bits). Probe steps at the highest and the
// lowest budget measure the device's time per step (a) and per bit (s); after that every step
// only updates the load factor m, the ratio of measured to modelled time over the last few
// steps, and the next budget is the one whose modelled time meets the target. The budget the
// controller settles on meets the target exactly even where the straight-line model is not (m
// absorbs the difference); averaging over a window holds the mean speed through the stalls of
// a shared device, and follows a change of load within a window without overshoot.
#include <cstdint>
#include <deque>
#include <utility>

namespace mq::rt {

class SpeedController {
  public:
    enum class State {
        Probing,      // measuring the device at the highest and lowest budget
        Holding,      // the chosen budget meets the target
        Unreachable,  // even the lowest budget is slower than the target
        AtMaxBits,    // even the highest budget is faster than the target
    };

    // min_bits..max_bits: the budgets the checkpoint can be asked for. Throws mq::Error for a
    // target that is not a positive number or an empty range.
    SpeedController(double target_tps, float min_bits, float max_bits);

    float next_budget() const { return next_; }  // the budget for the next step
    // A step's wall time and the average bits it read.
    void observe(double seconds, float bits);

    void set_target(double target_tps);  // keeps what was learned about the device

    State state() const { return state_; }
    double target_tps() const { return 1.0 / target_seconds_; }
    // The modelled speed at a budget under the current load (0 before the probes end).
    double predicted_tps(float bits) const;
    uint32_t steps() const { return steps_; }

  private:
    void choose();

    double target_seconds_;
    float min_bits_, max_bits_;
    float next_;
    State state_ = State::Probing;
    uint32_t steps_ = 0;
    double probe_high_seconds_ = 0, probe_high_bits_ = 0;
    double probe_low_seconds_ = 0, probe_low_bits_ = 0;
    double a_ = 0, s_ = 0, m_ = 1;                  // step time = m * (a + s * bits)
    std::deque<std::pair<double, double>> window_;  // (measured, modelled) of recent steps
};

const char* speed_state_name(SpeedController::State state);

}  // namespace mq::rt
