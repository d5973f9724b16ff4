#pragma once
// Random-weight GGUF files with the shapes of real models (synthetic_desc), for measuring load,
// quantize and generate at real sizes without downloading anything. Weights are drawn from an
// approximately normal distribution N(0, 0.02^2) (a sum of four uniforms: bounded, fast), norms
// are 1 and biases 0, so activations stay finite through any depth. The tokenizer is copied from
// another GGUF (the bundled model's), whose vocabulary must not exceed the shape's.
//
// Tensors are produced at write time a block at a time (gguf::Writer's producers), so an 8B F16
// file (16 GB) is written with a few tens of MiB of memory.
#include <cstdint>
#include <filesystem>
#include <functional>

#include "formats/gguf.hpp"
#include "formats/model_desc.hpp"

namespace mq::rt {

struct SyntheticModelOptions {
    gguf::TensorType type = gguf::TensorType::F16;  // F32, F16, BF16, Q8_0 or Q4_0: matrices
    uint32_t seed = 1;
    std::filesystem::path tokenizer_from;  // a GGUF whose tokenizer.* metadata is copied
    // The routed linears as MoBiSlice planes (min/max per group, no clipping search, no routers):
    // a version-2 MoBiQuant checkpoint of the same random weights, for measuring checkpoint
    // loads without running quantize.
    bool sliced = false;
    // progress(bytes written, total bytes)
    std::function<void(uint64_t, uint64_t)> progress;
};

// The file's tensor bytes (for a progress total or a disk-space check).
uint64_t synthetic_model_bytes(const ModelDesc& d, gguf::TensorType type, bool sliced = false);

void write_synthetic_model(const ModelDesc& d, const SyntheticModelOptions& options,
                           const std::filesystem::path& out);

}  // namespace mq::rt
