#pragma once
// The machine's streaming-read bandwidth with the kernels' thread pool: the yardstick the CPU
// kernel benchmarks report their GB/s against (kernels/bandwidth.hpp is the GPU's).
#include <cstdint>

#include "cpu/thread_pool.hpp"

namespace mq::cpu {

struct ReadBandwidth {
    double gbs = 0;       // median of the repetitions
    double gbs_best = 0;  // the fastest one
    uint64_t bytes = 0;   // of the buffer
    uint64_t slice = 0;   // read per repetition
};

// Reads slices of a buffer of `bytes` (far past the caches) in turn, each with SIMD loads on every
// pool thread: timed like a kernel call (the same pool start, slices the size of a large
// matrix), so that a loaded machine disturbs both alike.
ReadBandwidth measure_read_bandwidth(ThreadPool& pool, uint64_t bytes = 512ull << 20,
                                     uint64_t slice = 16ull << 20, int repetitions = 64);

}  // namespace mq::cpu
