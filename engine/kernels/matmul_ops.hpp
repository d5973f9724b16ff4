#pragma once
// Plans for the matrix products of a linear layer:
//   mobislice_matvec  one token, depth from a GPU buffer            (decode)
//   mobislice_matmat  T tokens, each with its own depth            (prefill)
//   dense_matvec / dense_matmat  unquantized fp32 weights
// Activations (x) hold padded_width(K) floats per token with a zero tail; outputs (y) are
// written at y[t * y_stride + y_offset + row].
#include "kernels/gpu_matrix.hpp"
#include "kernels/kernel_library.hpp"
#include "kernels/plan.hpp"

namespace mq::kernels {

struct MatVecIo {
    vk::BufferRange x;  // padded_width(K) floats
    vk::BufferRange y;  // at least y_offset + N floats
    uint32_t y_offset = 0;
};

struct MatMatIo {
    vk::BufferRange x;  // tokens x padded_width(K) floats
    uint32_t tokens = 0;
    vk::BufferRange y;      // tokens x y_stride floats
    uint32_t y_stride = 0;  // 0 = N
    uint32_t y_offset = 0;
};

struct DepthSource {
    vk::BufferRange buffer;  // uint32 depths in 1..4
    uint32_t index = 0;      // mat-vec: the entry to use; mat-mat: entry of token 0
};

class MatMulOps {
  public:
    explicit MatMulOps(KernelLibrary& library);

    Plan mobislice_matvec(const GpuSlicedMatrix& w, const MatVecIo& io, const DepthSource& depth);
    Plan mobislice_matmat(const GpuSlicedMatrix& w, const MatMatIo& io, const DepthSource& depths);
    Plan dense_matvec(const GpuDenseMatrix& w, const MatVecIo& io);
    Plan dense_matmat(const GpuDenseMatrix& w, const MatMatIo& io);

    static constexpr uint32_t kRowsPerGroup = 64;
    static constexpr uint32_t kTokenTile = 8;

  private:
    bool x_fits_uniform(uint32_t cols) const;
    KernelLibrary& lib_;
    vk::Context& ctx_;
};

}  // namespace mq::kernels
