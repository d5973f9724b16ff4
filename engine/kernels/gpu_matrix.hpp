#pragma once
// Weight matrices resident on the GPU, in the layouts the kernels read. A matrix larger than the
// device's storage-binding limit (128 MiB on lavapipe) is bound as several row ranges ("chunks"),
// each dispatched separately.
#include <array>
#include <cstdint>
#include <functional>
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

// Destination of a block of rows of a sliced matrix: each plane's words and the scales, in
// SlicedMatrix's row-major layout, for the block's rows only.
struct SlicedRows {
    std::array<std::span<uint32_t>, quant::kSlices> planes;
    std::span<uint32_t> scale_zero;
};
// Writes rows [row0, row0 + rows) of a matrix into `out`. Sources convert, slice or copy on
// demand, so a matrix reaches the GPU a bounded block at a time and never exists whole on the
// host.
using SlicedRowSource = std::function<void(uint32_t row0, uint32_t rows, const SlicedRows& out)>;
using DenseRowSource = std::function<void(uint32_t row0, uint32_t rows, std::span<float> out)>;

struct GpuSlicedMatrix {
    GpuSlicedMatrix(vk::Context& ctx, const quant::SlicedMatrix& m);
    // block_rows: rows the source is asked for at a time (0: about 4 MiB of planes).
    GpuSlicedMatrix(vk::Context& ctx, uint32_t rows, uint32_t cols, const SlicedRowSource& source,
                    uint32_t block_rows = 0);

    uint32_t rows, cols, groups;
    vk::Buffer buffer;
    uint64_t plane_row_bytes, scale_row_bytes;
    std::vector<SlicedChunk> chunks;

    // Device bytes a matrix of this shape takes, upper bound (for memory estimates).
    static uint64_t device_bytes(uint32_t rows, uint32_t cols);

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
    // The rows come from `source` a block (about 4 MiB of f32) at a time.
    GpuDenseMatrix(vk::Context& ctx, uint32_t rows, uint32_t cols, const DenseRowSource& source,
                   WeightFormat format = WeightFormat::F32);

    // Device bytes a matrix of this shape takes (for memory estimates before allocating).
    static uint64_t device_bytes(uint32_t rows, uint32_t cols, WeightFormat format);

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
