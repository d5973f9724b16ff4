#pragma once
// Where the Vulkan forward's weights come from, matrix by matrix and a block of rows at a time:
//  - ModelWeightsSource: a ModelWeights in memory (tests, reference comparisons, bench);
//  - FileWeightSource: a model file, read from its mapping as the upload asks for rows
//    (F16/BF16/Q8_0/K-quant blocks converted per block; a plain model optionally sliced per block;
//    a MoBiQuant checkpoint's planes copied as stored), each tensor's pages dropped once uploaded.
// The upload (VulkanForward) asks for each matrix in turn, so no whole-model copy ever exists on
// the host.
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "formats/model_loader.hpp"
#include "kernels/gpu_matrix.hpp"
#include "runtime/model_weights.hpp"

namespace mq::rt {

struct RouterSet;

// A weight matrix of the model: the embedding, the output head (the embedding when tied) or a
// routed linear.
struct MatrixId {
    enum class Kind { Embedding, Output, Linear } kind = Kind::Embedding;
    uint32_t layer = 0;
    Linear linear = Linear::Q;
};

class WeightSource {
  public:
    virtual ~WeightSource() = default;
    virtual const ModelDesc& desc() const = 0;
    // Every routed linear comes as MoBiSlice planes (sliced_rows), else as dense rows.
    virtual bool sliced() const = 0;
    virtual std::shared_ptr<const RouterSet> routers() const = 0;

    // Small vectors: norms and biases (empty when the linear has no bias).
    virtual std::vector<float> attn_norm(uint32_t layer) const = 0;
    virtual std::vector<float> ffn_norm(uint32_t layer) const = 0;
    virtual std::vector<float> output_norm() const = 0;
    virtual std::vector<float> bias(uint32_t layer, Linear l) const = 0;

    // Rows [row0, row0 + rows) of a matrix as f32 ([rows][cols] into out).
    virtual void dense_rows(MatrixId m, uint32_t row0, uint32_t rows,
                            std::span<float> out) const = 0;
    // Rows of a routed linear's MoBiSlice form (sliced() sources only).
    virtual void sliced_rows(uint32_t layer, Linear l, uint32_t row0, uint32_t rows,
                             const kernels::SlicedRows& out) const = 0;
    // The upload of a matrix is done: its source bytes may be dropped from memory.
    virtual void release(MatrixId) const {}

    // Rows a sliced_rows call should cover (bounded host memory, enough rows to keep the slicing
    // threads busy); 0 = the upload's default.
    virtual uint32_t sliced_block_rows(uint32_t /*cols*/) const { return 0; }

    // Shapes: rows and columns of a matrix.
    std::pair<uint32_t, uint32_t> shape(MatrixId m) const;
};

// A ModelWeights in memory. Its linears are sliced when all of them are.
class ModelWeightsSource final : public WeightSource {
  public:
    explicit ModelWeightsSource(const ModelWeights& w) : w_(w), sliced_(w.sliced()) {}
    const ModelDesc& desc() const override { return w_.desc; }
    bool sliced() const override { return sliced_; }
    std::shared_ptr<const RouterSet> routers() const override { return w_.routers; }
    std::vector<float> attn_norm(uint32_t l) const override { return w_.layers.at(l).attn_norm; }
    std::vector<float> ffn_norm(uint32_t l) const override { return w_.layers.at(l).ffn_norm; }
    std::vector<float> output_norm() const override { return w_.output_norm; }
    std::vector<float> bias(uint32_t l, Linear j) const override { return w_.layers.at(l)[j].bias; }
    void dense_rows(MatrixId m, uint32_t row0, uint32_t rows, std::span<float> out) const override;
    void sliced_rows(uint32_t layer, Linear l, uint32_t row0, uint32_t rows,
                     const kernels::SlicedRows& out) const override;

  private:
    const ModelWeights& w_;
    bool sliced_;
};

// A model file (GGUF or Hugging Face directory), read as the upload asks.
class FileWeightSource final : public WeightSource {
  public:
    // slice_plain: a plain model's linears are sliced block by block as they are uploaded
    // (min/max plus the clipping search of `slicing`, as ModelWeights::slice_all).
    FileWeightSource(const LoadedModel& model, bool slice_plain, quant::SliceOptions slicing = {});
    const ModelDesc& desc() const override { return desc_; }
    bool sliced() const override { return checkpoint_ || slice_plain_; }
    std::shared_ptr<const RouterSet> routers() const override { return routers_; }
    std::vector<float> attn_norm(uint32_t l) const override;
    std::vector<float> ffn_norm(uint32_t l) const override;
    std::vector<float> output_norm() const override;
    std::vector<float> bias(uint32_t l, Linear j) const override;
    void dense_rows(MatrixId m, uint32_t row0, uint32_t rows, std::span<float> out) const override;
    void sliced_rows(uint32_t layer, Linear l, uint32_t row0, uint32_t rows,
                     const kernels::SlicedRows& out) const override;
    void release(MatrixId m) const override;
    uint32_t sliced_block_rows(uint32_t cols) const override;

  private:
    std::vector<float> vector(const std::string& name, uint64_t expected) const;
    const ModelTensor& matrix_tensor(MatrixId m) const;

    const LoadedModel& model_;
    ModelDesc desc_;
    bool checkpoint_, slice_plain_;
    quant::SliceOptions slicing_;
    std::shared_ptr<const RouterSet> routers_;
};

// Checks a MoBiQuant checkpoint's format metadata (version, group size, slice bits).
void check_checkpoint_format(const LoadedModel& model);

}  // namespace mq::rt
