#include "kernels/matmul_ops.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>

#include "core/error.hpp"

namespace mq::kernels {

namespace {

constexpr VkDescriptorType kStorage = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
constexpr VkDescriptorType kUniform = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;
// Output rows each invocation of the row-per-lane mat-vecs computes (ROWS in their shaders; both
// come from cmake/Shaders.cmake).
constexpr uint32_t kMatVecRowsPerLane = MQ_MATVEC_ROWS_PER_LANE;
constexpr uint32_t kMatVecRowsPerSubgroup = MQ_MATVEC_ROWS_PER_SUBGROUP;  // MoBiSlice GPU layout

uint64_t range_size(const vk::BufferRange& r) {
    return r.range == VK_WHOLE_SIZE ? r.buffer->size() - r.offset : r.range;
}

void require_size(const vk::BufferRange& r, uint64_t bytes, const char* what) {
    if (!r.buffer) fail("{} buffer is missing", what);
    if (range_size(r) < bytes)
        fail("{} buffer holds {} bytes; the product needs {}", what, range_size(r), bytes);
}

vk::BufferRange sub(const vk::BufferRange& r, uint64_t offset, uint64_t bytes) {
    return {r.buffer, r.offset + offset, bytes};
}

uint32_t div_up(uint32_t a, uint32_t b) {
    return (a + b - 1) / b;
}

// The bindings both MoBiSlice kernels take for one row chunk: its four planes (one range) and
// its scales, then activations, outputs and depths.
std::vector<vk::BufferRange> sliced_bindings(const GpuSlicedMatrix& w, const SlicedChunk& c,
                                             vk::BufferRange x, vk::BufferRange y,
                                             vk::BufferRange depths) {
    return {{&w.buffer, c.planes_offset, quant::kSlices * c.plane_stride},
            {&w.buffer, c.scales_offset, c.rows * w.scale_row_bytes},
            x,
            y,
            depths};
}

// A dispatch of one of the matrix kernels: push constants `params`, a 1-D grid.
Dispatch matrix_dispatch(const vk::Kernel& k, VkDescriptorSet set,
                         std::initializer_list<uint32_t> params, uint32_t groups,
                         const char* label) {
    Dispatch d{&k, set, {}, static_cast<uint32_t>(params.size()), {groups, 1, 1}, label};
    std::copy(params.begin(), params.end(), d.push.begin());
    return d;
}

// The shaders of the products by variant (shaders/mobislice.cmake builds each one). A mat-vec
// variant: row per lane with x in a uniform buffer, the same with x in a storage buffer (K too
// wide for the uniform range), or row per subgroup.
enum MatVecVariant : size_t { kLanesUniformX, kLanesStorageX, kSubgroups, kMatVecVariants };
constexpr std::array<const char*, kMatVecVariants> kSlicedMatVecShaders = {
    "mobislice_matvec", "mobislice_matvec_xssbo", "mobislice_matvec_subgroup"};
// The mat-mat by output rows per invocation (1, 2, 4 or 16).
constexpr std::array<uint32_t, 4> kSlicedMatMatRows = {1, 2, 4, 16};
constexpr const char* sliced_matmat_shader(uint32_t rows) {
    return rows >= 16  ? "mobislice_matmat_r16"
           : rows >= 4 ? "mobislice_matmat_r4"
           : rows == 2 ? "mobislice_matmat_r2"
                       : "mobislice_matmat";
}
// [WeightFormat][variant]
constexpr std::array<std::array<const char*, kMatVecVariants>, 2> kDenseMatVecShaders = {{
    {"dense_matvec", "dense_matvec_xssbo", "dense_matvec_subgroup"},
    {"dense_matvec_f16", "dense_matvec_f16_xssbo", "dense_matvec_f16_subgroup"},
}};
// [WeightFormat][one row, kDenseRowsCpu rows per invocation]
constexpr std::array<std::array<const char*, 2>, 2> kDenseMatMatShaders = {{
    {"dense_matmat", "dense_matmat_r16"},
    {"dense_matmat_f16", "dense_matmat_f16_r16"},
}};
static_assert(MatMulOps::kDenseRowsCpu == 16, "the _r16 dense mat-mat shaders");

MatVecVariant matvec_variant(bool subgroups, bool x_in_uniform) {
    return subgroups ? kSubgroups : x_in_uniform ? kLanesUniformX : kLanesStorageX;
}

size_t format_index(WeightFormat f) {
    return f == WeightFormat::F16 ? 1 : 0;
}

uint32_t plane_stride_vec4(const SlicedChunk& c) {
    return static_cast<uint32_t>(c.plane_stride / 16);
}

MatVecLayout resolve_layout(MatVecLayout asked, const vk::DeviceInfo& info) {
    if (asked == MatVecLayout::Auto) {
        const char* env = std::getenv("MOBIQUANT_MATVEC_LAYOUT");
        std::string_view e = env ? env : "";
        if (e == "lanes")
            asked = MatVecLayout::RowPerLane;
        else if (e == "subgroups")
            asked = MatVecLayout::RowPerSubgroup;
        else if (!e.empty())
            fail("MOBIQUANT_MATVEC_LAYOUT is \"{}\": expected \"lanes\" or \"subgroups\"", e);
        else
            asked = info.type != VK_PHYSICAL_DEVICE_TYPE_CPU && info.subgroup_arithmetic
                        ? MatVecLayout::RowPerSubgroup
                        : MatVecLayout::RowPerLane;
    }
    if (asked == MatVecLayout::RowPerSubgroup && !info.subgroup_arithmetic)
        fail(
            "{} lacks subgroup arithmetic in compute shaders, which the row-per-subgroup mat-vec "
            "needs",
            info.name);
    return asked;
}

}  // namespace

std::vector<std::string_view> matmul_shader_names() {
    std::vector<std::string_view> names(kSlicedMatVecShaders.begin(), kSlicedMatVecShaders.end());
    for (uint32_t rows : kSlicedMatMatRows) names.push_back(sliced_matmat_shader(rows));
    for (const auto& per_format : kDenseMatVecShaders)
        names.insert(names.end(), per_format.begin(), per_format.end());
    for (const auto& per_format : kDenseMatMatShaders)
        names.insert(names.end(), per_format.begin(), per_format.end());
    return names;
}

MatMulOps::MatMulOps(KernelLibrary& library, MatVecLayout layout, MatMatTuning tuning)
    : lib_(library),
      ctx_(library.context()),
      layout_(resolve_layout(layout, library.context().info())),
      cpu_driver_(tuning == MatMatTuning::Auto
                      ? library.context().info().type == VK_PHYSICAL_DEVICE_TYPE_CPU
                      : tuning == MatMatTuning::CpuDriver) {}

uint32_t MatMulOps::subgroup_layout_groups(uint32_t rows, uint32_t rows_per_subgroup) const {
    // The kernels loop over row blocks by subgroup, so a driver that picks another subgroup
    // size than the one reported still covers every row.
    const uint32_t per_group =
        std::max(1u, kSubgroupLayoutGroupSize / std::max(1u, ctx_.info().subgroup_size));
    return std::min(div_up(div_up(rows, rows_per_subgroup), per_group),
                    ctx_.info().max_workgroup_count[0]);
}

bool MatMulOps::x_fits_uniform(uint32_t cols) const {
    return uint64_t(padded_width(cols)) * 4 <= ctx_.info().max_uniform_buffer_range;
}

MatMulOps::TokenTiles MatMulOps::token_tiles(uint32_t tokens, uint32_t cols,
                                             uint32_t max_tile) const {
    const uint64_t fit = ctx_.info().max_uniform_buffer_range / (uint64_t(padded_width(cols)) * 4);
    // A CPU driver reads a tile through two uniform bindings (shaders/matmat_tile.glsl).
    const uint32_t bindings = cpu_driver_ ? 2 : 1;
    uint32_t cap = static_cast<uint32_t>(std::min<uint64_t>(max_tile, fit * bindings));
    if (cap == 0) return {};
    uint32_t count = div_up(tokens, cap);
    uint32_t size = div_up(tokens, count);  // equal tiles: no mostly-empty last tile
    return {size, count, static_cast<uint32_t>(std::min<uint64_t>(size, fit))};
}

MatMulOps::TileRanges MatMulOps::tile_ranges(const vk::BufferRange& x, uint64_t x_row,
                                             const TokenTiles& tiles, uint32_t t0) {
    const vk::BufferRange first = sub(x, t0 * x_row, tiles.first * x_row);
    if (tiles.size == tiles.first) return {first, first};  // the second is bound, never read
    return {first, sub(x, (t0 + tiles.first) * x_row, (tiles.size - tiles.first) * x_row)};
}

Plan MatMulOps::mobislice_matvec(const GpuSlicedMatrix& w, const MatVecIo& io,
                                 const DepthSource& depth) {
    uint64_t x_bytes = uint64_t(padded_width(w.cols)) * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.y_offset) + w.rows) * 4, "output");
    require_size(depth.buffer, (uint64_t(depth.index) + 1) * 4, "depth");
    Plan plan;
    if (layout_ == MatVecLayout::RowPerSubgroup) {
        vk::Kernel& k = lib_.get({kSlicedMatVecShaders[kSubgroups],
                                  {kStorage, kStorage, kStorage, kStorage, kStorage},
                                  4 * 4,
                                  {kSubgroupLayoutGroupSize, w.cols}});
        for (const SlicedChunk& c : w.chunks)
            plan.dispatches.push_back(matrix_dispatch(
                k, k.bind(sliced_bindings(w, c, sub(io.x, 0, x_bytes), io.y, depth.buffer)),
                {c.rows, io.y_offset + c.row0, depth.index, plane_stride_vec4(c)},
                subgroup_layout_groups(c.rows, kMatVecRowsPerSubgroup), "mobislice_matvec"));
        return plan;
    }
    bool ubo = x_fits_uniform(w.cols);
    if (sliced_matvec_runs_matmat() && ubo && !depth.always_full)  // see kSlicedRowsCpu
        return mobislice_matmat(w, {io.x, 1, io.y, w.rows, io.y_offset}, depth);
    vk::Kernel& k = lib_.get({kSlicedMatVecShaders[matvec_variant(false, ubo)],
                              {kStorage, kStorage, ubo ? kUniform : kStorage, kStorage, kStorage},
                              4 * 4,
                              {kRowsPerGroup, w.cols, depth.always_full ? 1u : 0u}});
    for (const SlicedChunk& c : w.chunks) {
        auto ranges = sliced_bindings(w, c, sub(io.x, 0, x_bytes), io.y, depth.buffer);
        plan.dispatches.push_back(matrix_dispatch(
            k, k.bind(ranges), {c.rows, io.y_offset + c.row0, depth.index, plane_stride_vec4(c)},
            div_up(c.rows, kRowsPerGroup * kMatVecRowsPerLane), "mobislice_matvec"));
    }
    return plan;
}

uint32_t MatMulOps::sliced_matmat_rows(uint32_t tokens) const {
    if (cpu_driver_) return kSlicedRowsCpu;
    return tokens <= 4 ? 4 : tokens <= 8 ? 2 : 1;
}

Plan MatMulOps::mobislice_matmat(const GpuSlicedMatrix& w, const MatMatIo& io,
                                 const DepthSource& depths) {
    if (io.tokens == 0) return {};
    const uint32_t stride = io.y_stride ? io.y_stride : w.rows;
    const uint64_t x_row = uint64_t(padded_width(w.cols)) * 4;
    require_size(io.x, io.tokens * x_row, "activation");
    require_size(io.y, (uint64_t(io.tokens - 1) * stride + io.y_offset + w.rows) * 4, "output");
    require_size(depths.buffer, (uint64_t(depths.index) + io.tokens) * 4, "depth");
    const TokenTiles tiles =
        token_tiles(io.tokens, w.cols, cpu_driver_ ? kSlicedTokenTileCpu : kSlicedTokenTile);
    Plan plan;
    if (tiles.size == 0) {  // a token row is wider than a uniform buffer: one mat-vec per token
        for (uint32_t t = 0; t < io.tokens; ++t)
            plan.append(
                mobislice_matvec(w, {sub(io.x, t * x_row, x_row), io.y, io.y_offset + t * stride},
                                 {depths.buffer, depths.index + t}));
        return plan;
    }
    const uint32_t rows_per_lane = sliced_matmat_rows(tiles.size);
    vk::Kernel& k = lib_.get({sliced_matmat_shader(rows_per_lane),
                              {kStorage, kStorage, kUniform, kStorage, kStorage, kUniform},
                              7 * 4,
                              {kRowsPerGroup, w.cols, tiles.size, tiles.first}});
    for (uint32_t j = 0; j < tiles.count; ++j) {
        // The last tile may start earlier and overlap its neighbour; it writes only new tokens.
        const uint32_t start = j * tiles.size, t0 = std::min(start, io.tokens - tiles.size);
        const TileRanges xt = tile_ranges(io.x, x_row, tiles, t0);
        for (const SlicedChunk& c : w.chunks) {
            auto ranges = sliced_bindings(w, c, xt.first, io.y, depths.buffer);
            ranges.push_back(xt.second);
            plan.dispatches.push_back(
                matrix_dispatch(k, k.bind(ranges),
                                {c.rows, io.y_offset + c.row0, stride, t0, start - t0,
                                 depths.index + t0, plane_stride_vec4(c)},
                                div_up(c.rows, kRowsPerGroup * rows_per_lane), "mobislice_matmat"));
        }
    }
    return plan;
}

Plan MatMulOps::dense_matvec(const GpuDenseMatrix& w, const MatVecIo& io) {
    bool ubo = x_fits_uniform(w.cols);
    const bool subgroups = layout_ == MatVecLayout::RowPerSubgroup;
    uint64_t x_bytes = uint64_t(w.padded_cols) * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.y_offset) + w.rows) * 4, "output");
    vk::Kernel& k =
        lib_.get({kDenseMatVecShaders[format_index(w.format)][matvec_variant(subgroups, ubo)],
                  {kStorage, ubo && !subgroups ? kUniform : kStorage, kStorage},
                  2 * 4,
                  {subgroups ? kSubgroupLayoutGroupSize : kRowsPerGroup, w.cols}});
    Plan plan;
    for (const RowChunk& c : w.chunks) {
        std::vector<vk::BufferRange> ranges{
            {&w.buffer, c.row0 * w.row_bytes, c.rows * w.row_bytes}, sub(io.x, 0, x_bytes), io.y};
        uint32_t groups = subgroups ? subgroup_layout_groups(c.rows, 1)
                                    : div_up(c.rows, kRowsPerGroup * kMatVecRowsPerLane);
        plan.dispatches.push_back(matrix_dispatch(k, k.bind(ranges), {c.rows, io.y_offset + c.row0},
                                                  groups, "dense_matvec"));
    }
    return plan;
}

Plan MatMulOps::dense_matmat(const GpuDenseMatrix& w, const MatMatIo& io) {
    if (io.tokens == 0) return {};
    const uint32_t stride = io.y_stride ? io.y_stride : w.rows;
    const uint64_t x_row = uint64_t(w.padded_cols) * 4;
    require_size(io.x, io.tokens * x_row, "activation");
    require_size(io.y, (uint64_t(io.tokens - 1) * stride + io.y_offset + w.rows) * 4, "output");
    const TokenTiles tiles =
        token_tiles(io.tokens, w.cols, cpu_driver_ ? kDenseTokenTileCpu : kDenseTokenTile);
    Plan plan;
    if (tiles.size == 0) {  // a token row is wider than a uniform buffer: one mat-vec per token
        for (uint32_t t = 0; t < io.tokens; ++t)
            plan.append(
                dense_matvec(w, {sub(io.x, t * x_row, x_row), io.y, io.y_offset + t * stride}));
        return plan;
    }
    const uint32_t rows_per_lane = cpu_driver_ ? kDenseRowsCpu : 1;
    vk::Kernel& k = lib_.get({kDenseMatMatShaders[format_index(w.format)][cpu_driver_ ? 1 : 0],
                              {kStorage, kUniform, kStorage, kUniform},
                              6 * 4,
                              {kRowsPerGroup, w.cols, tiles.size, tiles.first}});
    for (uint32_t j = 0; j < tiles.count; ++j) {
        const uint32_t start = j * tiles.size, t0 = std::min(start, io.tokens - tiles.size);
        const TileRanges xt = tile_ranges(io.x, x_row, tiles, t0);
        for (const RowChunk& c : w.chunks) {
            std::vector<vk::BufferRange> ranges{
                {&w.buffer, c.row0 * w.row_bytes, c.rows * w.row_bytes}, xt.first, io.y, xt.second};
            plan.dispatches.push_back(matrix_dispatch(
                k, k.bind(ranges), {c.rows, io.y_offset + c.row0, stride, t0, start - t0, 1},
                div_up(c.rows, kRowsPerGroup * rows_per_lane), "dense_matmat"));
        }
    }
    return plan;
}

}  // namespace mq::kernels
