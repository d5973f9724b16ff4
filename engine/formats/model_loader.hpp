#pragma once
// Opens a model from a GGUF file or a Hugging Face directory and gives one view of it: the
// ModelDesc and every tensor under its canonical name, as f32 or as raw bytes.
//
//   mq::LoadedModel m = mq::LoadedModel::open("model.gguf");   // or "path/to/hf-dir"
//   const mq::ModelDesc& d = m.desc();
//   std::vector<float> wq = m.to_f32(m.get("blk.0.attn_q.weight"));  // dims {dim, q_dim}
//
// Every tensor the description implies is checked when the model is opened: a missing tensor
// or one whose shape disagrees with the metadata gives an mq::Error naming it. Tensors outside
// the canonical set (mobiquant.* planes, rotary caches, ...) are listed too, under their own
// names, after the canonical ones.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/gguf.hpp"
#include "formats/hf_dir.hpp"
#include "formats/model_desc.hpp"

namespace mq {

struct ModelTensor {
    std::string name;            // canonical name (or the file's name for non-canonical ones)
    std::string source_name;     // name in the file
    std::vector<uint64_t> dims;  // GGUF order: dims[0] is the row length
    std::string type;            // "f32", "bf16", "q8_0", ... (lowercase)
    std::optional<gguf::TensorType> ggml_type;  // nullopt for safetensors dtypes ggml lacks
    uint64_t bytes = 0;
    bool canonical = false;

    uint64_t n_elements() const;
    std::string shape_string() const;  // "[dims[0], dims[1]]"
};

class LoadedModel {
  public:
    // A .gguf file or a directory with config.json. Throws mq::Error with the reason.
    static LoadedModel open(const std::filesystem::path& path);

    const ModelDesc& desc() const { return desc_; }
    const std::filesystem::path& path() const { return path_; }
    const std::vector<ModelTensor>& tensors() const { return tensors_; }
    const ModelTensor* find(std::string_view name) const;
    const ModelTensor& get(std::string_view name) const;                // throws naming the tensor
    std::span<const std::byte> bytes(const ModelTensor& tensor) const;  // as stored
    std::vector<float> to_f32(const ModelTensor& tensor) const;         // dequantized
    // f32 copies of some rows of a 2-D tensor (rows of dims[0] values), e.g. the embeddings
    // of a few tokens, without converting the whole tensor.
    std::vector<float> rows_to_f32(const ModelTensor& tensor, std::span<const uint32_t> rows) const;
    // Lets the kernel drop the tensor's mapped pages once a streaming job is done with it.
    void drop_pages(const ModelTensor& tensor) const;
    uint64_t parameter_count() const;  // elements of all tensors (tied output counted once)

    // The underlying files (exactly one is set), e.g. for tokenizer metadata.
    const gguf::File* gguf() const { return gguf_.get(); }
    const HfModelDir* hf() const { return hf_.get(); }

  private:
    void index_and_check();

    std::filesystem::path path_;
    ModelDesc desc_;
    std::shared_ptr<const gguf::File> gguf_;
    std::shared_ptr<const HfModelDir> hf_;
    std::vector<ModelTensor> tensors_;
    std::unordered_map<std::string, size_t> index_;
};

}  // namespace mq
