#pragma once
// A persistent pool of worker threads for the CPU kernels: a decode step runs hundreds of
// parallel loops of ~100 us each, so no thread is started per call, and idle workers spin
// briefly before sleeping to answer the next loop quickly.
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mq::cpu {

// Physical cores of this machine (hyper-threads not counted); hardware_concurrency() when the
// topology cannot be read.
unsigned physical_core_count();

class ThreadPool {
  public:
    explicit ThreadPool(unsigned threads = 0);  // 0 = physical_core_count()
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }  // with caller

    // Splits [0, n) into contiguous chunks and runs fn(begin, end) on them, the calling thread
    // taking part; returns when all are done. Exceptions in fn are rethrown in the caller. Calls
    // from several threads take turns; a call from inside fn runs serially on its thread.
    // Threads claim chunks as they come (a few per thread), so a worker the OS has not scheduled
    // yet (a busy machine) delays the call by no more than the chunk it holds.
    void parallel_for(uint32_t n, const std::function<void(uint32_t begin, uint32_t end)>& fn);

  private:
    void worker_loop();
    void claim_chunks(uint32_t sequence);

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // one parallel_for at a time
    // (sequence << 32) | (chunks << 16) | next chunk: a claim is one compare-exchange that fails
    // once the call it belongs to is over.
    std::atomic<uint64_t> work_{0};
    std::atomic<uint32_t> generation_{0};  // the sequence of the latest call; workers wait on it
    std::atomic<uint32_t> done_{0};        // chunks finished in the current call
    std::atomic<unsigned> sleeping_workers_{0};
    std::atomic<bool> caller_sleeping_{false};
    std::atomic<bool> stop_{false};
    uint32_t sequence_ = 0;
    const std::function<void(uint32_t, uint32_t)>* job_ = nullptr;
    uint32_t job_n_ = 0;
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

}  // namespace mq::cpu
