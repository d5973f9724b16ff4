#pragma once
// Times the matrix kernels on random weights of real layer shapes: per-call time from GPU
// timestamps (median), weight bytes read per second, weights per second. Mat-vec (decode) at
// 4096x4096-class shapes; mat-mat (prefill, a batch of tokens) at the default model's shapes.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/kernel_library.hpp"
#include "kernels/matmul_ops.hpp"

namespace mq::kernels {

struct KernelTiming {
    uint32_t n = 0, k = 0;
    // "mobislice", "mobislice_full" (depth 4 known when recording: the 8-bit head's kernel,
    // mat-vec only) or "dense_f32"
    std::string kind;
    uint32_t depth = 0;   // mobislice kinds only
    uint32_t tokens = 1;  // > 1: a mat-mat over this many tokens
    double us = 0;        // median time per call
    double gbs = 0;       // weight bytes read / time
    double gweights = 0;  // N*K / time, in 1e9 weights per second
};

struct KernelBenchOptions {
    std::vector<std::pair<uint32_t, uint32_t>> shapes = {{4096, 4096}, {11008, 4096}};  // N x K
    std::vector<std::pair<uint32_t, uint32_t>> matmat_shapes = {{512, 192}, {4096, 192}};
    uint32_t matmat_tokens = 32;  // 0: no mat-mat rows
    uint32_t repetitions = 10;
    MatVecLayout layout = MatVecLayout::Auto;          // of the mat-vec kernels
    std::function<void(const std::string&)> progress;  // called before each measurement
};

// Mat-vec rows for every shape, then mat-mat rows for every matmat shape.
std::vector<KernelTiming> bench_matvec_kernels(KernelLibrary& library,
                                               const KernelBenchOptions& options);

}  // namespace mq::kernels
