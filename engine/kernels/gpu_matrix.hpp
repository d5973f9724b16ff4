#pragma once
// Weight matrices resident on the GPU, in the layouts the kernels read. A matrix larger than the
// device's storage-binding limit (128 MiB on lavapipe) is bound as several row ranges ("chunks"),
// each dispatched separately.
#include <cstdint>
#include <span>
#include <vector>

#include "quant/mobislice.hpp"
#include "vulkan/buffer.hpp"
#include "vulkan/context.hpp"

namespace mq::kernels {

struct RowChunk {
    uint32_t row0 = 0, rows = 0;
};

// Splits `rows` rows into chunks whose bindings (row_bytes[i] bytes per row for each bound
// array) stay within `limit` bytes and start at offsets that are multiples of `alignment`.
std::vector<RowChunk> split_rows(uint32_t rows, std::span<const uint64_t> row_bytes, uint64_t limit,
                                 uint64_t alignment);

// MoBiSlice planes and scales in one buffer: plane 1, plane 2, plane 3, plane 4, scales.
struct GpuSlicedMatrix {
    GpuSlicedMatrix(vk::Context& ctx, const quant::SlicedMatrix& m);

    uint32_t rows, cols, groups;
    vk::Buffer buffer;
    uint64_t plane_offset[quant::kSlices];
    uint64_t scale_offset;
    uint64_t plane_row_bytes, scale_row_bytes;
    std::vector<RowChunk> chunks;

    // Weight bytes a mat-vec at this depth reads: `depth` planes plus the scales.
    uint64_t bytes_read(uint32_t depth) const {
        return uint64_t(rows) * (depth * plane_row_bytes + scale_row_bytes);
    }
};

// Unquantized fp32 weights, rows padded with zeros to a multiple of 128 columns.
struct GpuDenseMatrix {
    GpuDenseMatrix(vk::Context& ctx, std::span<const float> weights, uint32_t rows, uint32_t cols);

    uint32_t rows, cols, padded_cols;
    vk::Buffer buffer;
    uint64_t row_bytes;
    std::vector<RowChunk> chunks;
    uint64_t bytes_read() const { return uint64_t(rows) * cols * 4; }
};

// Activations are stored padded to a multiple of 128 values per token, the tail zero.
inline uint32_t padded_width(uint32_t cols) {
    return (cols + quant::kGroupSize - 1) / quant::kGroupSize * quant::kGroupSize;
}

}  // namespace mq::kernels
