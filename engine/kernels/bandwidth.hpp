#pragma once
// The device's streaming-read bandwidth, measured by a read shader on the same device: the
// yardstick the kernel benchmarks report their GB/s against.
#include <cstdint>

#include "kernels/kernel_library.hpp"

namespace mq::kernels {

struct BandwidthResult {
    double gbs = 0;      // best of the repetitions
    uint64_t bytes = 0;  // bytes read per repetition
};

BandwidthResult measure_stream_read(KernelLibrary& library, uint64_t bytes = 512ull << 20,
                                    int repetitions = 5);

}  // namespace mq::kernels
