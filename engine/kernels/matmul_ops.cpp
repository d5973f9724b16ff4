#include "kernels/matmul_ops.hpp"

#include "core/error.hpp"

namespace mq::kernels {

namespace {

constexpr VkDescriptorType kStorage = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
constexpr VkDescriptorType kUniform = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;

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

// The bindings both MoBiSlice kernels take for one row chunk: planes 1-4 and the scales of those
// rows, then activations, outputs and depths.
std::vector<vk::BufferRange> sliced_bindings(const GpuSlicedMatrix& w, const RowChunk& c,
                                             vk::BufferRange x, vk::BufferRange y,
                                             vk::BufferRange depths) {
    std::vector<vk::BufferRange> ranges;
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        ranges.push_back({&w.buffer, w.plane_offset[e] + c.row0 * w.plane_row_bytes,
                          c.rows * w.plane_row_bytes});
    ranges.push_back(
        {&w.buffer, w.scale_offset + c.row0 * w.scale_row_bytes, c.rows * w.scale_row_bytes});
    ranges.insert(ranges.end(), {x, y, depths});
    return ranges;
}

}  // namespace

MatMulOps::MatMulOps(KernelLibrary& library) : lib_(library), ctx_(library.context()) {}

bool MatMulOps::x_fits_uniform(uint32_t cols) const {
    return uint64_t(padded_width(cols)) * 4 <= ctx_.info().max_uniform_buffer_range;
}

Plan MatMulOps::mobislice_matvec(const GpuSlicedMatrix& w, const MatVecIo& io,
                                 const DepthSource& depth) {
    bool ubo = x_fits_uniform(w.cols);
    uint64_t x_bytes = uint64_t(padded_width(w.cols)) * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.y_offset) + w.rows) * 4, "output");
    require_size(depth.buffer, (uint64_t(depth.index) + 1) * 4, "depth");
    vk::Kernel& k = lib_.get({ubo ? "mobislice_matvec" : "mobislice_matvec_xssbo",
                              {kStorage, kStorage, kStorage, kStorage, kStorage,
                               ubo ? kUniform : kStorage, kStorage, kStorage},
                              3 * 4,
                              {kRowsPerGroup, w.cols}});
    Plan plan;
    for (const RowChunk& c : w.chunks) {
        auto ranges = sliced_bindings(w, c, sub(io.x, 0, x_bytes), io.y, depth.buffer);
        Dispatch d{&k,
                   k.bind(ranges),
                   {c.rows, io.y_offset + c.row0, depth.index},
                   3,
                   {div_up(c.rows, kRowsPerGroup), 1, 1},
                   "mobislice_matvec"};
        plan.dispatches.push_back(d);
    }
    return plan;
}

Plan MatMulOps::mobislice_matmat(const GpuSlicedMatrix& w, const MatMatIo& io,
                                 const DepthSource& depths) {
    if (io.tokens == 0) return {};
    uint32_t stride = io.y_stride ? io.y_stride : w.rows;
    uint64_t x_bytes = uint64_t(io.tokens) * padded_width(w.cols) * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.tokens - 1) * stride + io.y_offset + w.rows) * 4, "output");
    require_size(depths.buffer, (uint64_t(depths.index) + io.tokens) * 4, "depth");
    vk::Kernel& k =
        lib_.get({"mobislice_matmat",
                  {kStorage, kStorage, kStorage, kStorage, kStorage, kStorage, kStorage, kStorage},
                  5 * 4,
                  {kRowsPerGroup, w.cols, kTokenTile}});
    Plan plan;
    for (const RowChunk& c : w.chunks) {
        auto ranges = sliced_bindings(w, c, sub(io.x, 0, x_bytes), io.y, depths.buffer);
        Dispatch d{&k,
                   k.bind(ranges),
                   {c.rows, io.tokens, io.y_offset + c.row0, stride, depths.index},
                   5,
                   {div_up(c.rows, kRowsPerGroup), div_up(io.tokens, kTokenTile), 1},
                   "mobislice_matmat"};
        plan.dispatches.push_back(d);
    }
    return plan;
}

Plan MatMulOps::dense_matvec(const GpuDenseMatrix& w, const MatVecIo& io) {
    bool ubo = x_fits_uniform(w.cols);
    uint64_t x_bytes = uint64_t(w.padded_cols) * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.y_offset) + w.rows) * 4, "output");
    vk::Kernel& k = lib_.get({ubo ? "dense_matvec" : "dense_matvec_xssbo",
                              {kStorage, ubo ? kUniform : kStorage, kStorage},
                              2 * 4,
                              {kRowsPerGroup, w.cols}});
    Plan plan;
    for (const RowChunk& c : w.chunks) {
        std::vector<vk::BufferRange> ranges{
            {&w.buffer, c.row0 * w.row_bytes, c.rows * w.row_bytes}, sub(io.x, 0, x_bytes), io.y};
        plan.dispatches.push_back({&k,
                                   k.bind(ranges),
                                   {c.rows, io.y_offset + c.row0},
                                   2,
                                   {div_up(c.rows, kRowsPerGroup), 1, 1},
                                   "dense_matvec"});
    }
    return plan;
}

Plan MatMulOps::dense_matmat(const GpuDenseMatrix& w, const MatMatIo& io) {
    if (io.tokens == 0) return {};
    uint32_t stride = io.y_stride ? io.y_stride : w.rows;
    uint64_t x_bytes = uint64_t(io.tokens) * w.padded_cols * 4;
    require_size(io.x, x_bytes, "activation");
    require_size(io.y, (uint64_t(io.tokens - 1) * stride + io.y_offset + w.rows) * 4, "output");
    vk::Kernel& k = lib_.get({"dense_matmat",
                              {kStorage, kStorage, kStorage},
                              4 * 4,
                              {kRowsPerGroup, w.cols, kTokenTile}});
    Plan plan;
    for (const RowChunk& c : w.chunks) {
        std::vector<vk::BufferRange> ranges{
            {&w.buffer, c.row0 * w.row_bytes, c.rows * w.row_bytes}, sub(io.x, 0, x_bytes), io.y};
        plan.dispatches.push_back(
            {&k,
             k.bind(ranges),
             {c.rows, io.tokens, io.y_offset + c.row0, stride},
             4,
             {div_up(c.rows, kRowsPerGroup), div_up(io.tokens, kTokenTile), 1},
             "dense_matmat"});
    }
    return plan;
}

}  // namespace mq::kernels
