#pragma once
// `mobiquant bench-kernels --backend cpu`: the CPU kernels' table (the command's Vulkan path is
// in cmd_bench_kernels.cpp).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mq::cli {

struct CpuBenchKernelsOptions {
    std::vector<std::pair<uint32_t, uint32_t>> shapes;  // empty: the benchmark's default list
    uint32_t tokens = 32;
    uint32_t repetitions = 20;
    unsigned threads = 0;       // 0: physical cores
    std::string simd = "auto";  // a level of mq::cpu::simd_targets(), or auto (the best)
    uint64_t rotate_mib = 0;    // 0: 3 x the last-level cache
    bool dense = true;
    bool json = false;
};

int run_cpu_bench_kernels(const CpuBenchKernelsOptions& o);

}  // namespace mq::cli
