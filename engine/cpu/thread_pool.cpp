#include "cpu/thread_pool.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mq::cpu {

namespace {

// Workers poll this many times for new work before they sleep: long enough to catch the next
// kernel of a decode step, short enough not to burn a shared core between steps.
constexpr int kSpinPolls = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

thread_local bool inside_pool_job = false;

}  // namespace

unsigned physical_core_count() {
    std::set<std::pair<std::string, std::string>> cores;  // (package, core id)
    for (unsigned cpu = 0;; ++cpu) {
        const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream package(dir + "physical_package_id"), core(dir + "core_id");
        if (!package || !core) break;
        std::string p, c;
        package >> p;
        core >> c;
        cores.emplace(p, c);
    }
    if (!cores.empty()) return static_cast<unsigned>(cores.size());
    return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(unsigned threads) {
    if (threads == 0) threads = physical_core_count();
    errors_.resize(threads);
    workers_.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(call_mutex_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
    }
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_chunk(unsigned index) {
    if (index >= job_chunks_) return;
    const uint64_t n = job_n_;
    const uint32_t begin = static_cast<uint32_t>(n * index / job_chunks_);
    const uint32_t end = static_cast<uint32_t>(n * (index + 1) / job_chunks_);
    if (begin >= end) return;
    inside_pool_job = true;
    try {
        (*job_)(begin, end);
    } catch (...) {
        errors_[index] = std::current_exception();
    }
    inside_pool_job = false;
}

void ThreadPool::worker_loop(unsigned index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t now = generation_.load(std::memory_order_acquire);
        for (int i = 0; now == seen && i < kSpinPolls; ++i) {
            cpu_relax();
            now = generation_.load(std::memory_order_acquire);
        }
        while (now == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            now = generation_.load(std::memory_order_acquire);
        }
        seen = now;
        if (stop_) return;
        run_chunk(index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

void ThreadPool::parallel_for(uint32_t n,
                              const std::function<void(uint32_t begin, uint32_t end)>& fn) {
    if (n == 0) return;
    if (workers_.empty() || n == 1 || inside_pool_job) {
        fn(0, n);
        return;
    }
    std::lock_guard lock(call_mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = std::min<uint32_t>(n, size());
    std::fill(errors_.begin(), errors_.end(), nullptr);
    pending_.store(static_cast<unsigned>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();

    run_chunk(0);

    unsigned left = pending_.load(std::memory_order_acquire);
    for (int i = 0; left != 0 && i < kSpinPolls; ++i) {
        cpu_relax();
        left = pending_.load(std::memory_order_acquire);
    }
    while (left != 0) {
        pending_.wait(left, std::memory_order_acquire);
        left = pending_.load(std::memory_order_acquire);
    }
    job_ = nullptr;
    for (auto& e : errors_)
        if (e) std::rethrow_exception(e);
}

}  // namespace mq::cpu
