#pragma once
// The machine's streaming-read bandwidth with the kernels' thread pool: the yardstick the CPU
// kernel benchmarks report their GB/s against (kernels/bandwidth.hpp is the GPU's).
#include <cstdint>

#include "cpu/thread_pool.hpp"

namespace mq::cpu {

struct ReadBandwidth {
    double gbs = 0;      // best of the repetitions
    uint64_t bytes = 0;  // read per repetition
};

// Reads a buffer of `bytes` (far past the caches) with SIMD loads on every pool thread.
ReadBandwidth measure_read_bandwidth(ThreadPool& pool, uint64_t bytes = 512ull << 20,
                                     int repetitions = 5);

}  // namespace mq::cpu
