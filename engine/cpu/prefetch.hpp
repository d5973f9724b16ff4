#pragma once
// How far ahead the CPU kernels prefetch weights they stream from memory. On a 2-core Xeon the
// hardware prefetcher alone left a one-token MoBiSlice product at 62-82% of the streaming read;
// prefetching 2 KiB ahead brought it to 84-99% (1 KiB gained little, 4-8 KiB no more than 2).
#include <cstddef>

namespace mq::cpu {

constexpr size_t kPrefetchBytes = 2048;

}  // namespace mq::cpu
