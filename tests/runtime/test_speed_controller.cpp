// The tokens/s controller against a simulated device whose time per token at each budget is
// known: it reaches a reachable target within a few tokens, follows a change of load without
// oscillating, and says when a target is out of reach.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/error.hpp"
#include "runtime/speed_controller.hpp"

using mq::rt::SpeedController;

namespace {

// A device: the seconds a step takes at a budget; `load` multiplies it (another program).
struct SimulatedDevice {
    std::function<double(double bits)> seconds;
    double load = 1.0;
    double step(double bits) const { return load * seconds(bits); }
};

// Runs n steps; returns the budget of every step. Achieved bits equal the budget here.
std::vector<float> run(SpeedController& c, const SimulatedDevice& dev, int n) {
    std::vector<float> budgets;
    for (int i = 0; i < n; ++i) {
        float b = c.next_budget();
        budgets.push_back(b);
        c.observe(dev.step(b), b);
    }
    return budgets;
}

// 2 bits: 6 ms (167 tokens/s), 8 bits: 12 ms (83 tokens/s).
SimulatedDevice linear_device() {
    return {[](double b) { return 0.004 + 0.001 * b; }};
}

double tps(const SimulatedDevice& dev, double bits) {
    return 1.0 / dev.step(bits);
}

}  // namespace

TEST_CASE("speed controller: reaches a reachable target within a few tokens and holds it") {
    SimulatedDevice dev = linear_device();
    SpeedController c(110.0, 2.0f, 8.0f);
    auto b = run(c, dev, 10);
    // Five probe steps (a warm-up and two at the highest budget, two at the lowest), then on
    // target from the first step.
    CHECK(b[0] == 8.0f);
    CHECK(b[2] == 8.0f);
    CHECK(b[3] == 2.0f);
    CHECK(b[4] == 2.0f);
    CHECK(c.state() == SpeedController::State::Holding);
    for (int i = 5; i < 10; ++i) CHECK(tps(dev, b[i]) == doctest::Approx(110.0).epsilon(0.005));
}

TEST_CASE("speed controller: a change of load moves the budget to the new answer, no overshoot") {
    SimulatedDevice dev = linear_device();
    SpeedController c(110.0, 2.0f, 8.0f);
    run(c, dev, 10);
    const float before = c.next_budget();
    // Another program takes 25% of the device: the budget must drop until 110 tokens/s again.
    dev.load = 1.25;
    auto b = run(c, dev, 12);
    const double answer = (1.0 / 110.0 / dev.load - 0.004) / 0.001;  // 3.27 bits
    REQUIRE(answer < before);
    for (size_t i = 1; i < b.size(); ++i) {
        CHECK(b[i] <= b[i - 1] + 1e-6f);  // monotone: no oscillation
        CHECK(b[i] >= answer - 1e-3);     // never below the answer: no overshoot
    }
    CHECK(b[8] == doctest::Approx(answer).epsilon(0.01));  // within a window of tokens
    CHECK(tps(dev, b.back()) == doctest::Approx(110.0).epsilon(0.005));
    // The load goes away: the budget climbs back.
    dev.load = 1.0;
    b = run(c, dev, 12);
    for (size_t i = 1; i < b.size(); ++i) CHECK(b[i] >= b[i - 1] - 1e-6f);
    CHECK(b.back() == doctest::Approx(before).epsilon(0.01));
}

TEST_CASE("speed controller: a device that is not a straight line still settles on the target") {
    // Time grows with the square of the bits: the model's line is wrong, its load factor
    // absorbs the difference.
    SimulatedDevice dev{[](double b) { return 0.005 + 0.0001 * b * b; }};
    SpeedController c(130.0, 2.0f, 8.0f);
    auto b = run(c, dev, 30);
    const double answer = std::sqrt((1.0 / 130.0 - 0.005) / 0.0001);
    CHECK(b.back() == doctest::Approx(answer).epsilon(0.01));
    for (size_t i = 7; i < b.size(); ++i)  // after the first correction: no swings
        CHECK(std::abs(b[i] - b[i - 1]) < 0.5f);
}

TEST_CASE("speed controller: a target above the lowest budget's speed is unreachable") {
    SimulatedDevice dev = linear_device();
    SpeedController c(200.0, 2.0f, 8.0f);  // the lowest budget gives 167 tokens/s
    auto b = run(c, dev, 8);
    CHECK(c.state() == SpeedController::State::Unreachable);
    CHECK(b.back() == 2.0f);
    CHECK(c.predicted_tps(2.0f) == doctest::Approx(tps(dev, 2.0)).epsilon(0.01));
    // A reachable target again: it recovers from where it is.
    c.set_target(100.0);
    b = run(c, dev, 10);
    CHECK(c.state() == SpeedController::State::Holding);
    CHECK(tps(dev, b.back()) == doctest::Approx(100.0).epsilon(0.005));
}

TEST_CASE("speed controller: a target below the highest budget's speed reads every bit") {
    SpeedController c(50.0, 2.0f, 8.0f);  // the highest budget gives 83 tokens/s
    run(c, linear_device(), 8);
    CHECK(c.state() == SpeedController::State::AtMaxBits);
    CHECK(c.next_budget() == 8.0f);
}

TEST_CASE("speed controller: a noisy device keeps the budget near the answer") {
    SimulatedDevice dev = linear_device();
    SpeedController c(110.0, 2.0f, 8.0f);
    uint32_t state = 12345;
    auto noise = [&] {  // +-10% per step, deterministic
        state = state * 1664525u + 1013904223u;
        return 0.9 + 0.2 * (state >> 8) / double(1u << 24);
    };
    run(c, dev, 6);
    double sum = 0;
    const int n = 200;
    for (int i = 0; i < n; ++i) {
        float bb = c.next_budget();
        sum += tps(dev, bb);
        c.observe(dev.step(bb) * noise(), bb);
    }
    CHECK(sum / n == doctest::Approx(110.0).epsilon(0.03));
}

TEST_CASE("speed controller: stalls of a shared device are averaged, not chased") {
    // Every fourth step takes five times as long (another program's frame on the same queue):
    // the mean speed is what is held, with the budget steady instead of swinging end to end.
    SimulatedDevice dev = linear_device();
    SpeedController c(70.0, 2.0f, 8.0f);
    int step = 0;
    auto time_of = [&](float bits) { return dev.step(bits) * (++step % 4 == 0 ? 3.0 : 1.0); };
    for (int i = 0; i < 8; ++i) {
        float bb = c.next_budget();
        c.observe(time_of(bb), bb);
    }
    double seconds = 0;
    float lo = 8, hi = 2;
    const int n = 80;
    for (int i = 0; i < n; ++i) {
        float bb = c.next_budget();
        double t = time_of(bb);
        seconds += t;
        lo = std::min(lo, bb), hi = std::max(hi, bb);
        c.observe(t, bb);
    }
    MESSAGE("mean " << n / seconds << " tokens/s, budgets " << lo << ".." << hi);
    CHECK(n / seconds == doctest::Approx(70.0).epsilon(0.05));
    CHECK(hi - lo < 2.5f);
}

TEST_CASE("speed controller: bad targets are refused") {
    CHECK_THROWS_AS(SpeedController(0.0, 2.0f, 8.0f), mq::Error);
    CHECK_THROWS_AS(SpeedController(-5.0, 2.0f, 8.0f), mq::Error);
    CHECK_THROWS_AS(SpeedController(std::nan(""), 2.0f, 8.0f), mq::Error);
    CHECK_THROWS_AS(SpeedController(10.0, 8.0f, 2.0f), mq::Error);
}
