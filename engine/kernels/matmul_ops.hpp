#pragma once
// Plans for the matrix products of a linear layer:
//   mobislice_matvec  one token, depth from a GPU buffer            (decode)
//   mobislice_matmat  T tokens, each with its own depth            (prefill)
//   dense_matvec / dense_matmat  unquantized weights (fp32 or fp16, see WeightFormat)
// Activations (x) hold padded_width(K) floats per token with a zero tail; outputs (y) are
// written at y[t * y_stride + y_offset + row].
// Activations are read through uniform buffers where they fit the device's uniform range (a
// mat-mat takes its batch in tiles of tokens that fit, one dispatch per tile; on CPU drivers a
// tile is read through two uniform bindings, so it may be twice the range), so their range
// offsets must meet minUniformBufferOffsetAlignment; wider rows fall back to storage reads.
#include <string_view>
#include <vector>

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
    // Every entry is 4 and stays so (an unrouted matrix read at full depth, such as the 8-bit
    // output head): the row-per-lane mat-vec then builds 8-bit codes from the four planes at
    // once, about 6 operations per weight instead of 16 (8% faster on lavapipe, where the
    // storage loads dominate). The buffer must still hold the 4s.
    bool always_full = false;
};

// How a one-token product spreads over the device. RowPerLane: each invocation computes whole
// rows (CPU drivers such as lavapipe, where a lane is a SIMD slot and storage loads are per-lane
// loops). RowPerSubgroup: a subgroup shares a row, reading it coalesced (GPUs). Auto picks
// RowPerSubgroup on a GPU with subgroup arithmetic, unless $MOBIQUANT_MATVEC_LAYOUT says
// "lanes" or "subgroups".
enum class MatVecLayout { Auto, RowPerLane, RowPerSubgroup };

// How the MoBiSlice mat-mat is cut for the device. Gpu: tiles of up to kSlicedTokenTile tokens,
// 1, 2 or 4 output rows per invocation by tile size. CpuDriver (lavapipe, where each invocation
// value is a SIMD register across lanes and a uniform load is a scalar load and a broadcast):
// tiles of up to kSlicedTokenTileCpu tokens and kSlicedRowsCpu rows per invocation, and a one-token
// product (decode) runs as a mat-mat of one token too; the dense mat-mat likewise takes
// kDenseTokenTileCpu tokens and kDenseRowsCpu rows. Auto picks by device type.
enum class MatMatTuning { Auto, Gpu, CpuDriver };

// Every shader the products below can pick, by name; each must be embedded (tests check).
std::vector<std::string_view> matmul_shader_names();

class MatMulOps {
  public:
    explicit MatMulOps(KernelLibrary& library, MatVecLayout layout = MatVecLayout::Auto,
                       MatMatTuning tuning = MatMatTuning::Auto);
    MatVecLayout matvec_layout() const { return layout_; }
    // Whether a one-token MoBiSlice product of routed depths runs as a one-token mat-mat
    // (kSlicedRowsCpu rows an invocation, where a token row fits a uniform buffer) rather than
    // the mat-vec: on a CPU driver in the row-per-lane layout. Dense products and a depth known
    // to be full (the 8-bit head) keep the mat-vec.
    bool sliced_matvec_runs_matmat() const {
        return cpu_driver_ && layout_ == MatVecLayout::RowPerLane;
    }

    Plan mobislice_matvec(const GpuSlicedMatrix& w, const MatVecIo& io, const DepthSource& depth);
    Plan mobislice_matmat(const GpuSlicedMatrix& w, const MatMatIo& io, const DepthSource& depths);
    Plan dense_matvec(const GpuDenseMatrix& w, const MatVecIo& io);
    Plan dense_matmat(const GpuDenseMatrix& w, const MatMatIo& io);

    static constexpr uint32_t kRowsPerGroup = 64;
    static constexpr uint32_t kSubgroupLayoutGroupSize = 128;  // invocations per workgroup
    // Most tokens one mat-mat dispatch takes (fewer when a tile of X would not fit the device's
    // uniform-buffer range). Each weight is loaded once per tile.
    static constexpr uint32_t kSlicedTokenTile = 16;
    // On lavapipe, 16 rows x 2 tokens an invocation measured 8-9x faster per token than 1 row x
    // 16 tokens (2048x8192, 16 tokens) and 2x faster than the mat-vec for one token; 32 rows
    // were faster still but took minutes to compile. Tiles of up to 4 tokens (16 x 4
    // accumulators) decode each word once for a 3-4 token batch step instead of twice: 1.3x less
    // work than 2-token tiles at 3, 4 and 16 tokens (4096x2048), 1.1x than 4 tokens x 8 rows;
    // 1-2 tokens keep their 16 x 1 and 16 x 2 tiles.
    static constexpr uint32_t kSlicedTokenTileCpu = 4;
    static constexpr uint32_t kSlicedRowsCpu = 16;
    static constexpr uint32_t kDenseTokenTile = 32;
    // The dense mat-mat on a CPU driver: tiles of up to 4 tokens, 16 rows per invocation (as the
    // MoBiSlice one; one row per invocation cost 5.2x one token for 4 tokens on lavapipe). Every
    // cut sums a token's row in the same order, so a token's product keeps its bits in any batch.
    static constexpr uint32_t kDenseTokenTileCpu = 4;
    static constexpr uint32_t kDenseRowsCpu = 16;

  private:
    struct TokenTiles {
        uint32_t size = 0, count = 0;  // size 0: one token row does not fit a uniform buffer
        uint32_t first = 0;            // tile tokens in the first uniform binding, the rest in
                                       // the second (CPU drivers only)
    };
    struct TileRanges {
        vk::BufferRange first, second;
    };
    bool x_fits_uniform(uint32_t cols) const;
    TokenTiles token_tiles(uint32_t tokens, uint32_t cols, uint32_t max_tile) const;
    // The two activation bindings of the tile starting at token t0.
    static TileRanges tile_ranges(const vk::BufferRange& x, uint64_t x_row, const TokenTiles& tiles,
                                  uint32_t t0);
    uint32_t subgroup_layout_groups(uint32_t rows, uint32_t rows_per_subgroup) const;
    KernelLibrary& lib_;
    vk::Context& ctx_;
    // Output rows per mat-mat invocation for a tile of `tokens`: rows x tokens accumulators,
    // each decoded weight word feeding every token and each activation load every row.
    uint32_t sliced_matmat_rows(uint32_t tokens) const;
    MatVecLayout layout_;
    bool cpu_driver_;  // MatMatTuning::CpuDriver, resolved
};

}  // namespace mq::kernels
