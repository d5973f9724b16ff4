// The desktop app's parts that need no window: background jobs (progress, cancel, errors), plot
// ticks and the quantize offer's default output path.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "core/error.hpp"
#include "gui/background_job.hpp"
#include "gui/model_jobs.hpp"
#include "gui/plot.hpp"

using namespace mq;
using namespace mq::gui;

namespace {

// Polls until the job is no longer running (at most 10 s).
JobStatus wait_end(const BackgroundJob& job) {
    auto t0 = std::chrono::steady_clock::now();
    while (job.running() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return job.status();
}

}  // namespace

TEST_CASE("a background job shows its progress while it runs, then its result") {
    BackgroundJob job("test");
    std::atomic<bool> release{false};
    REQUIRE(job.start([&](const JobProgressFn& progress, const std::atomic<bool>*) {
        progress({"layer 1/2: slices", 0.5, 3.0});
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return std::string("out.gguf");
    }));
    auto t0 = std::chrono::steady_clock::now();
    while (job.status().fraction < 0.5 &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    JobStatus s = job.status();
    CHECK(s.state == JobState::Running);
    CHECK(s.stage == "layer 1/2: slices");
    CHECK(s.seconds_left == doctest::Approx(3.0));
    CHECK_FALSE(job.start([](auto&, auto*) { return std::string(); }));  // one at a time
    release = true;
    s = wait_end(job);
    CHECK(s.state == JobState::Done);
    CHECK(s.result == "out.gguf");
    CHECK(s.fraction == 1.0);
    CHECK(s.finished == 1);
}

TEST_CASE("cancelling a job ends it as cancelled through the engine's JobClock") {
    BackgroundJob job("test");
    REQUIRE(job.start([](const JobProgressFn& progress, const std::atomic<bool>* cancel) {
        JobClock clock(progress, cancel);
        for (int i = 0;; ++i) {  // an endless job: only the cancel flag ends it
            clock.report("working", 0.01 * (i % 100));
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return std::string();
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    job.cancel();
    JobStatus s = wait_end(job);
    CHECK(s.state == JobState::Cancelled);
    CHECK(s.error.empty());
    // A new job starts after a cancelled one, with the flag cleared.
    REQUIRE(job.start([](const JobProgressFn&, const std::atomic<bool>* cancel) {
        return std::string(cancel->load() ? "still cancelled" : "fresh");
    }));
    CHECK(wait_end(job).result == "fresh");
    CHECK(job.status().finished == 2);
}

TEST_CASE("a failing job keeps the engine's message for the panel") {
    BackgroundJob job("test");
    REQUIRE(job.start([](const JobProgressFn&, const std::atomic<bool>*) -> std::string {
        fail("the calibration text has {} tokens; {} were requested", 100, 2048);
    }));
    JobStatus s = wait_end(job);
    CHECK(s.state == JobState::Failed);
    CHECK(s.error == "the calibration text has 100 tokens; 2048 were requested");
    job.clear();
    CHECK(job.status().state == JobState::Idle);
}

TEST_CASE("plot ticks are round numbers inside the range") {
    CHECK(nice_ticks(1.5, 8.5, 6, false) == std::vector<double>{2, 4, 6, 8});
    auto unit = nice_ticks(0, 1, 5, false);
    REQUIRE(unit.size() == 6);
    for (size_t i = 0; i < unit.size(); ++i) CHECK(unit[i] == doctest::Approx(0.2 * double(i)));
    CHECK(nice_ticks(40, 700, 6, true) == std::vector<double>{50, 100, 200, 500});
    // A wide log range thins out to fewer values per decade.
    auto wide = nice_ticks(5, 20000, 6, true);
    CHECK(wide.size() <= 8);
    CHECK(wide.front() >= 5);
    CHECK(wide.back() <= 20000);
    CHECK(nice_ticks(3, 3, 5, false).empty());
}

TEST_CASE("the quantize offer writes the checkpoint beside the input") {
    CHECK(default_checkpoint_path("/models/llama-7b.gguf") == "/models/llama-7b-mobiquant.gguf");
    CHECK(default_checkpoint_path("model") == "model-mobiquant.gguf");
}
