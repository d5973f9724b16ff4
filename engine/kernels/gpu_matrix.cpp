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

namespace {
// Host-side blocks stay near this size: bounded memory whatever the matrix.
constexpr uint64_t kBlockBytes = 4u << 20;

const quant::SlicedMatrix& checked(const quant::SlicedMatrix& m) {
    for (const auto& p : m.planes)
        if (p.size() != uint64_t(m.rows) * m.words_per_row())
            fail("sliced matrix {}x{}: a plane of {} words", m.rows, m.cols, p.size());
    if (m.scale_zero.size() != uint64_t(m.rows) * m.groups_per_row())
        fail("sliced matrix {}x{}: {} scales", m.rows, m.cols, m.scale_zero.size());
    return m;
}

uint32_t rows_per_block(uint64_t row_bytes, uint32_t requested) {
    if (requested) return requested;
    return static_cast<uint32_t>(
        std::max<uint64_t>(1, kBlockBytes / std::max<uint64_t>(1, row_bytes)));
}
}  // namespace

GpuSlicedMatrix::GpuSlicedMatrix(vk::Context& ctx, const quant::SlicedMatrix& m)
    : GpuSlicedMatrix(
          ctx, checked(m).rows, m.cols,
          [&m](uint32_t row0, uint32_t n, const SlicedRows& out) {
              const uint64_t words = m.words_per_row(), groups = m.groups_per_row();
              for (uint32_t e = 0; e < quant::kSlices; ++e)
                  std::memcpy(out.planes[e].data(), m.planes[e].data() + row0 * words,
                              n * words * 4);
              std::memcpy(out.scale_zero.data(), m.scale_zero.data() + row0 * groups,
                          n * groups * 4);
          },
          m.rows) {}

GpuSlicedMatrix::GpuSlicedMatrix(vk::Context& ctx, uint32_t rows_, uint32_t cols_,
                                 const SlicedRowSource& source, uint32_t block_rows)
    : rows(rows_), cols(cols_), groups((cols_ + quant::kGroupSize - 1) / quant::kGroupSize) {
    const uint64_t align = std::max<uint64_t>(256, ctx.info().min_storage_buffer_offset_alignment);
    const uint64_t words = uint64_t(groups) * quant::kWordsPerGroup;
    plane_row_bytes = words * 4;
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
    const uint32_t block = rows_per_block(widths[0] + widths[1], block_rows);
    // Where the buffer is mapped (lavapipe, unified memory) the source writes straight into it;
    // otherwise into one block of scratch, uploaded block by block.
    std::vector<uint32_t> scratch;
    if (!buffer.mapped())
        scratch.resize(uint64_t(std::min(block, rows)) * (quant::kSlices * words + groups));
    auto* base = static_cast<std::byte*>(buffer.data());
    for (const SlicedChunk& c : chunks) {
        for (uint32_t r = c.row0; r < c.row0 + c.rows; r += block) {
            const uint32_t n = std::min(block, c.row0 + c.rows - r);
            const uint64_t plane_at = c.planes_offset + uint64_t(r - c.row0) * plane_row_bytes;
            const uint64_t scale_at = c.scales_offset + uint64_t(r - c.row0) * scale_row_bytes;
            SlicedRows out;
            for (uint32_t e = 0; e < quant::kSlices; ++e)
                out.planes[e] = base ? std::span(reinterpret_cast<uint32_t*>(base + plane_at +
                                                                             e * c.plane_stride),
                                                 n * words)
                                     : std::span(scratch).subspan(e * n * words, n * words);
            out.scale_zero =
                base ? std::span(reinterpret_cast<uint32_t*>(base + scale_at), n * uint64_t(groups))
                     : std::span(scratch).subspan(quant::kSlices * n * words, n * uint64_t(groups));
            source(r, n, out);
            if (base) continue;
            for (uint32_t e = 0; e < quant::kSlices; ++e)
                buffer.upload(out.planes[e].data(), out.planes[e].size_bytes(),
                              plane_at + e * c.plane_stride);
            buffer.upload(out.scale_zero.data(), out.scale_zero.size_bytes(), scale_at);
        }
    }
}

uint64_t GpuSlicedMatrix::device_bytes(uint32_t rows, uint32_t cols) {
    const uint64_t groups = (cols + quant::kGroupSize - 1) / quant::kGroupSize;
    // Planes and scales, plus the alignment padding of a few chunks.
    return uint64_t(rows) * groups * (quant::kSlices * quant::kWordsPerGroup + 1) * 4 + 4096;
}

uint64_t GpuDenseMatrix::device_bytes(uint32_t rows, uint32_t cols, WeightFormat format) {
    return uint64_t(rows) * padded_width(cols) * (format == WeightFormat::F16 ? 2 : 4);
}

GpuDenseMatrix::GpuDenseMatrix(vk::Context& ctx, std::span<const float> weights, uint32_t rows_,
                               uint32_t cols_, WeightFormat format_)
    : GpuDenseMatrix(
          ctx, rows_, cols_,
          [&](uint32_t row0, uint32_t n, std::span<float> out) {
              if (weights.size() != uint64_t(rows_) * cols_)
                  fail("dense matrix: {} values for {}x{}", weights.size(), rows_, cols_);
              std::memcpy(out.data(), weights.data() + uint64_t(row0) * cols_, out.size_bytes());
          },
          format_) {}

GpuDenseMatrix::GpuDenseMatrix(vk::Context& ctx, uint32_t rows_, uint32_t cols_,
                               const DenseRowSource& source, WeightFormat format_)
    : rows(rows_), cols(cols_), padded_cols(padded_width(cols_)), format(format_) {
    if (rows == 0 || cols == 0) fail("dense matrix: empty {}x{}", rows, cols);
    row_bytes = uint64_t(padded_cols) * bytes_per_weight();
    buffer = vk::Buffer(ctx, row_bytes * rows);
    const uint32_t block = std::min(rows, rows_per_block(uint64_t(cols) * 4, 0));
    auto* base = static_cast<std::byte*>(buffer.data());
    // f32 rows without padding go straight into a mapped buffer; anything else is converted
    // from one block of f32 into the buffer (or a scratch block that is then uploaded).
    const bool direct = base && format == WeightFormat::F32 && padded_cols == cols;
    std::vector<float> values(direct ? 0 : uint64_t(block) * cols);
    std::vector<std::byte> staged(base || direct ? 0 : uint64_t(block) * row_bytes);
    for (uint32_t r = 0; r < rows; r += block) {
        const uint32_t n = std::min(block, rows - r);
        std::byte* dst = base ? base + uint64_t(r) * row_bytes : staged.data();
        if (direct) {
            source(r, n, std::span(reinterpret_cast<float*>(dst), uint64_t(n) * cols));
            continue;
        }
        source(r, n, std::span(values).first(uint64_t(n) * cols));
        for (uint32_t i = 0; i < n; ++i) {
            const float* src = values.data() + uint64_t(i) * cols;
            std::byte* row = dst + uint64_t(i) * row_bytes;
            if (format == WeightFormat::F16) {
                auto* h = reinterpret_cast<uint16_t*>(row);
                for (uint32_t c = 0; c < cols; ++c) h[c] = float_to_half(src[c]);
                std::fill(h + cols, h + padded_cols, uint16_t{0});
            } else {
                auto* f = reinterpret_cast<float*>(row);
                std::memcpy(f, src, uint64_t(cols) * 4);
                std::fill(f + cols, f + padded_cols, 0.0f);
            }
        }
        if (!base) buffer.upload(staged.data(), uint64_t(n) * row_bytes, uint64_t(r) * row_bytes);
    }
    uint64_t widths[] = {row_bytes};
    chunks = split_rows(rows, widths, ctx.max_storage_range(),
                        ctx.info().min_storage_buffer_offset_alignment);
}

}  // namespace mq::kernels
