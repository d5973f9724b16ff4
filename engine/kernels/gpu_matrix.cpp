#include "kernels/gpu_matrix.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.hpp"

namespace mq::kernels {

namespace {
uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}
}  // namespace

std::vector<RowChunk> split_rows(uint32_t rows, std::span<const uint64_t> row_bytes, uint64_t limit,
                                 uint64_t alignment) {
    // Chunk starts must be multiples of `step` rows so every binding offset stays aligned.
    uint64_t step = 1;
    for (uint64_t b : row_bytes) step = std::lcm(step, alignment / std::gcd(alignment, b));
    uint64_t widest = *std::max_element(row_bytes.begin(), row_bytes.end());
    uint64_t fit = limit / widest;  // rows one binding can hold
    if (fit >= rows) return {{0, rows}};
    uint64_t per_chunk = fit / step * step;
    if (per_chunk == 0)
        fail(
            "a weight row of {} bytes cannot be bound within the device's {}-byte storage "
            "binding limit",
            widest * step, limit);
    std::vector<RowChunk> chunks;
    for (uint64_t r = 0; r < rows; r += per_chunk)
        chunks.push_back({static_cast<uint32_t>(r),
                          static_cast<uint32_t>(std::min<uint64_t>(per_chunk, rows - r))});
    return chunks;
}

GpuSlicedMatrix::GpuSlicedMatrix(vk::Context& ctx, const quant::SlicedMatrix& m)
    : rows(m.rows), cols(m.cols), groups(m.groups_per_row()) {
    const uint64_t align = std::max<uint64_t>(256, ctx.info().min_storage_buffer_offset_alignment);
    plane_row_bytes = uint64_t(m.words_per_row()) * 4;
    scale_row_bytes = uint64_t(groups) * 4;
    uint64_t offset = 0;
    for (uint32_t e = 0; e < quant::kSlices; ++e) {
        plane_offset[e] = offset;
        offset = align_up(offset + m.plane_bytes(), align);
    }
    scale_offset = offset;
    buffer = vk::Buffer(ctx, offset + m.scale_bytes());
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        buffer.upload(m.planes[e].data(), m.plane_bytes(), plane_offset[e]);
    buffer.upload(m.scale_zero.data(), m.scale_bytes(), scale_offset);
    uint64_t widths[] = {plane_row_bytes, scale_row_bytes};
    chunks = split_rows(rows, widths, ctx.max_storage_range(),
                        ctx.info().min_storage_buffer_offset_alignment);
}

GpuDenseMatrix::GpuDenseMatrix(vk::Context& ctx, std::span<const float> weights, uint32_t rows_,
                               uint32_t cols_)
    : rows(rows_), cols(cols_), padded_cols(padded_width(cols_)) {
    if (weights.size() != uint64_t(rows) * cols)
        fail("dense matrix: {} values for {}x{}", weights.size(), rows, cols);
    row_bytes = uint64_t(padded_cols) * 4;
    buffer = vk::Buffer(ctx, row_bytes * rows);
    if (padded_cols == cols) {
        buffer.upload(weights.data(), weights.size_bytes());
    } else {
        std::vector<float> padded(uint64_t(rows) * padded_cols, 0.0f);
        for (uint32_t r = 0; r < rows; ++r)
            std::memcpy(&padded[uint64_t(r) * padded_cols], &weights[uint64_t(r) * cols],
                        cols * sizeof(float));
        buffer.upload(padded.data(), padded.size() * sizeof(float));
    }
    uint64_t widths[] = {row_bytes};
    chunks = split_rows(rows, widths, ctx.max_storage_range(),
                        ctx.info().min_storage_buffer_offset_alignment);
}

}  // namespace mq::kernels
