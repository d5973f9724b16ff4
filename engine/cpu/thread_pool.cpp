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

// Idle threads poll this many times before they sleep: long enough to catch the next kernel of
// a decode step, short enough not to burn a shared core between steps.
constexpr int kSpinPolls = 20000;
constexpr uint32_t kChunksPerThread = 4;  // balance against threads that start late

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Spins, then sleeps, until value != old; returns the new value.
template <typename T>
T wait_for_change(std::atomic<T>& value, T old, std::atomic<unsigned>* sleepers,
                  std::atomic<bool>* sleeping) {
    T now = value.load(std::memory_order_acquire);
    for (int i = 0; now == old && i < kSpinPolls; ++i) {
        cpu_relax();
        now = value.load(std::memory_order_acquire);
    }
    while (now == old) {
        if (sleepers) sleepers->fetch_add(1);
        if (sleeping) sleeping->store(true);
        now = value.load();  // seq_cst: pairs with the notifier's check of the sleep flag
        if (now == old) value.wait(old);
        if (sleepers) sleepers->fetch_sub(1);
        if (sleeping) sleeping->store(false);
        now = value.load(std::memory_order_acquire);
    }
    return now;
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
    workers_.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(call_mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
        generation_.notify_all();
    }
    for (auto& w : workers_) w.join();
}

void ThreadPool::claim_chunks(uint32_t sequence) {
    for (;;) {
        uint64_t w = work_.load(std::memory_order_acquire);
        const uint32_t chunks = (w >> 16) & 0xFFFF, next = w & 0xFFFF;
        if (uint32_t(w >> 32) != sequence || next >= chunks) return;
        if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
        // Claimed: the call cannot end before this chunk is done, so its fields stay valid.
        const uint32_t begin = static_cast<uint32_t>(uint64_t(job_n_) * next / chunks);
        const uint32_t end = static_cast<uint32_t>(uint64_t(job_n_) * (next + 1) / chunks);
        const bool nested = inside_pool_job;
        inside_pool_job = true;
        try {
            if (begin < end) (*job_)(begin, end);
        } catch (...) {
            std::lock_guard lock(error_mutex_);
            if (!error_) error_ = std::current_exception();
        }
        inside_pool_job = nested;
        if (done_.fetch_add(1) + 1 == chunks && caller_sleeping_.load()) done_.notify_all();
    }
}

void ThreadPool::worker_loop() {
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_change(generation_, seen, &sleeping_workers_, nullptr);
        if (stop_.load()) return;
        claim_chunks(seen);
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
    const uint32_t chunks = std::min<uint32_t>({n, size() * kChunksPerThread, 0xFFFF});
    job_ = &fn;
    job_n_ = n;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint32_t sequence = ++sequence_;
    work_.store((uint64_t(sequence) << 32) | (uint64_t(chunks) << 16), std::memory_order_release);
    generation_.store(sequence);
    if (sleeping_workers_.load() > 0) generation_.notify_all();

    claim_chunks(sequence);

    uint32_t finished = done_.load(std::memory_order_acquire);
    while (finished != chunks)
        finished = wait_for_change(done_, finished, nullptr, &caller_sleeping_);
    job_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace mq::cpu
