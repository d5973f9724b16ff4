#pragma once
// parallel_for(n, fn): calls fn(begin, end) on contiguous chunks of [0, n) from a few threads.
// Enough for the CPU-side jobs (slicing, reference ops); no pool, no work stealing.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace mq {

template <typename Fn>
void parallel_for(uint64_t n, Fn&& fn, uint32_t threads = 0) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<uint32_t>(std::min<uint64_t>(threads, n));
    if (threads <= 1) {
        if (n) fn(uint64_t{0}, n);
        return;
    }
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(threads);
    uint64_t chunk = (n + threads - 1) / threads;
    for (uint32_t t = 0; t < threads; ++t) {
        uint64_t b = t * chunk, e = std::min(n, b + chunk);
        if (b >= e) break;
        pool.emplace_back([&, t, b, e] {
            try {
                fn(b, e);
            } catch (...) {
                errors[t] = std::current_exception();
            }
        });
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace mq
