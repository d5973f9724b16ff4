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
    void parallel_for(uint32_t n, const std::function<void(uint32_t begin, uint32_t end)>& fn);

  private:
    void worker_loop(unsigned index);
    void run_chunk(unsigned index);

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // one parallel_for at a time
    std::atomic<uint64_t> generation_{0};
    std::atomic<unsigned> pending_{0};
    bool stop_ = false;
    const std::function<void(uint32_t, uint32_t)>* job_ = nullptr;
    uint32_t job_n_ = 0, job_chunks_ = 0;
    std::vector<std::exception_ptr> errors_;
};

}  // namespace mq::cpu
