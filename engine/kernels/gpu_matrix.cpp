#include "kernels/gpu_matrix.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "core/half.hpp"

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
    // Chunk offsets are aligned explicitly below, so any row count per chunk will do.
    uint64_t widths[] = {quant::kSlices * plane_row_bytes, scale_row_bytes};
    uint64_t offset = 0;
    for (const RowChunk& rc : split_rows(rows, widths, ctx.max_storage_range(), 1)) {
        SlicedChunk c;
        static_cast<RowChunk&>(c) = rc;
        c.planes_offset = offset;
        c.plane_stride = uint64_t(c.rows) * plane_row_bytes;
        c.scales_offset = align_up(offset + quant::kSlices * c.plane_stride, align);
        offset = align_up(c.scales_offset + uint64_t(c.rows) * scale_row_bytes, align);
        chunks.push_back(c);
    }
    buffer = vk::Buffer(ctx, offset);
    const uint64_t words = m.words_per_row();
    for (const SlicedChunk& c : chunks) {
        for (uint32_t e = 0; e < quant::kSlices; ++e)
            buffer.upload(m.planes[e].data() + c.row0 * words, c.plane_stride,
                          c.planes_offset + e * c.plane_stride);
        buffer.upload(m.scale_zero.data() + uint64_t(c.row0) * groups,
                      uint64_t(c.rows) * scale_row_bytes, c.scales_offset);
    }
}

GpuDenseMatrix::GpuDenseMatrix(vk::Context& ctx, std::span<const float> weights, uint32_t rows_,
                               uint32_t cols_, WeightFormat format_)
    : rows(rows_), cols(cols_), padded_cols(padded_width(cols_)), format(format_) {
    if (weights.size() != uint64_t(rows) * cols)
        fail("dense matrix: {} values for {}x{}", weights.size(), rows, cols);
    row_bytes = uint64_t(padded_cols) * bytes_per_weight();
    buffer = vk::Buffer(ctx, row_bytes * rows);
    if (format == WeightFormat::F16) {
        std::vector<uint16_t> halves(uint64_t(rows) * padded_cols, 0);
        for (uint32_t r = 0; r < rows; ++r)
            for (uint32_t c = 0; c < cols; ++c)
                halves[uint64_t(r) * padded_cols + c] =
                    float_to_half(weights[uint64_t(r) * cols + c]);
        buffer.upload(halves.data(), halves.size() * sizeof(uint16_t));
    } else if (padded_cols == cols) {
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
