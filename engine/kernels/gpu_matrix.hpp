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

// MoBiSlice planes and scales in one buffer, row chunk by row chunk: for each chunk, its rows of
// plane 1, plane 2, plane 3, plane 4 back to back (one binding, plane_stride bytes apart, so a
// kernel can loop over planes), then its scales at their own aligned offset.
struct SlicedChunk : RowChunk {
    uint64_t planes_offset = 0;  // plane 1 of this chunk; plane e at + e * plane_stride
    uint64_t plane_stride = 0;   // rows * plane_row_bytes
    uint64_t scales_offset = 0;
};

struct GpuSlicedMatrix {
    GpuSlicedMatrix(vk::Context& ctx, const quant::SlicedMatrix& m);

    uint32_t rows, cols, groups;
    vk::Buffer buffer;
    uint64_t plane_row_bytes, scale_row_bytes;
    std::vector<SlicedChunk> chunks;

    // Weight bytes a mat-vec at this depth reads: `depth` planes plus the scales.
    uint64_t bytes_read(uint32_t depth) const {
        return uint64_t(rows) * (depth * plane_row_bytes + scale_row_bytes);
    }
};

// How unquantized weights are stored on the GPU. F16: IEEE half, two per 32-bit word (the even
// column in the low half, GLSL's packHalf2x16 layout), read with unpackHalf2x16, which needs no
// 16-bit storage feature; accumulation stays fp32.
enum class WeightFormat { F32, F16 };

// Unquantized weights, rows padded with zeros to a multiple of 128 columns.
struct GpuDenseMatrix {
    GpuDenseMatrix(vk::Context& ctx, std::span<const float> weights, uint32_t rows, uint32_t cols,
                   WeightFormat format = WeightFormat::F32);

    uint32_t rows, cols, padded_cols;
    WeightFormat format;
    vk::Buffer buffer;
    uint64_t row_bytes;
    std::vector<RowChunk> chunks;
    uint32_t bytes_per_weight() const { return format == WeightFormat::F16 ? 2 : 4; }
    uint64_t bytes_read() const { return uint64_t(rows) * cols * bytes_per_weight(); }
};

// Activations are stored padded to a multiple of 128 values per token, the tail zero.
inline uint32_t padded_width(uint32_t cols) {
    return (cols + quant::kGroupSize - 1) / quant::kGroupSize * quant::kGroupSize;
}

}  // namespace mq::kernels
