#pragma once
// What `quantize` will hold in memory at its peak, from the model's shapes and the calibration
// size, so that a job the machine cannot hold is refused before any long work.
#include <cstdint>
#include <string>

#include "formats/model_desc.hpp"

namespace mq::calib {

struct QuantizeMemory {
    uint64_t activations = 0;  // calibration tokens' rows through the widest linear
    uint64_t layer = 0;        // one layer's f32 weights plus the largest linear's work copies
    uint64_t probes = 0;       // the loss-sensitivity probes (global allocation), 0 when off
    uint64_t fixed = 0;        // routers, scores, program and libraries
    uint64_t total() const;
    std::string describe() const;  // "3.1 GB (activations 0.4 GB, one layer 1.2 GB, ...)"
};

QuantizeMemory estimate_quantize_memory(const ModelDesc& d, uint64_t calibration_tokens,
                                        bool global_allocation);

// MemAvailable of /proc/meminfo in bytes (0 when unknown).
uint64_t available_memory();

// mq::Error naming the sizes when the estimate exceeds what is available.
void check_quantize_memory(const QuantizeMemory& need, uint64_t available);

}  // namespace mq::calib
