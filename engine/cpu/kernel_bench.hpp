#pragma once
// Times the CPU kernels on random weights of real layer shapes, the matrices rotated through
// enough copies to exceed the last-level cache so every call reads its weights from memory:
// the mixed-depth MoBiSlice product at each depth (mat-vec, and mat-mat over a batch of tokens)
// and the dense fp32/fp16 products.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cpu/thread_pool.hpp"

namespace mq::cpu {

struct CpuKernelTiming {
    uint32_t n = 0, k = 0;
    std::string kind;     // "mobislice", "dense_f32" or "dense_f16"
    uint32_t depth = 0;   // mobislice only
    uint32_t tokens = 1;  // > 1: a mat-mat over this many tokens
    double us = 0;        // median time per call
    double us_best = 0;   // fastest call (the figure least disturbed by other load)
    double gbs = 0;       // weight bytes read / median time (each weight counted once)
    double gbs_best = 0;  // the same at the fastest call
    double gflops = 0;    // 2 * N * K * tokens / median time
    // The memory's streaming read (memory_bandwidth.hpp) measured just before this shape's
    // rows: this VM's bandwidth drifts over minutes, so each shape gets its own yardstick.
    double read_gbs = 0, read_gbs_best = 0;
};

struct CpuKernelBenchOptions {
    std::vector<std::pair<uint32_t, uint32_t>> shapes = {{4096, 4096},  {11008, 4096},
                                                         {4096, 11008}, {2048, 2048},
                                                         {8192, 2048},  {2048, 8192}};  // N x K
    uint32_t matmat_tokens = 32;  // 0 or 1: no mat-mat rows
    uint32_t repetitions = 20;
    uint64_t rotate_bytes = 0;  // weight bytes the copies of a matrix span (0: 3 x the L3)
    bool dense = true;          // dense fp32 / fp16 rows too
    std::function<void(const std::string&)> progress;  // called before each shape
};

// Per shape: mat-vec rows at depths 1-4 (and dense fp32, fp16), then the same at
// matmat_tokens tokens.
std::vector<CpuKernelTiming> bench_cpu_kernels(ThreadPool& pool, const CpuKernelBenchOptions& o);

// Bytes of the last-level cache (sysconf), or 32 MiB when unknown.
uint64_t last_level_cache_bytes();

}  // namespace mq::cpu
