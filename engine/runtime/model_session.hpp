#pragma once
// A model ready to run: its file, tokenizer, chat template, weights and forward (on a Vulkan
// device or the CPU). This is
// what the CLI and the desktop app hold; generation runs through a Generator on top of it.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "formats/model_loader.hpp"
#include "runtime/forward_factory.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/spec.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::rt {

struct SessionOptions {
    uint32_t context = 0;  // 0: the model's, capped at 2048
    uint32_t batch = 32;   // prefill tokens per submission
    // Storage of unquantized linears and the output head on the GPU (fp16 halves their bytes).
    kernels::WeightFormat dense_format = kernels::WeightFormat::F32;
    bool head_8bit = false;  // the output head as MoBiSlice planes (ForwardOptions)
    uint8_t head_depth = 4;  // read at this depth (4: 8 bits, 2: 4 bits)
    // A plain model runs unquantized unless this asks for MoBiSlice; then every linear is sliced
    // at load, a block of rows at a time on every core as it is uploaded (the calibrated
    // checkpoints of `mobiquant quantize` come sliced already).
    bool slice_plain_model = false;
    std::function<void(const std::string&)> progress;  // load stages, for a status line
};

// The tokenizer a model file carries (GGUF metadata, or the directory's tokenizer.json).
tok::TokenizerSpec load_tokenizer_spec_of(const LoadedModel& model);

class ModelSession {
  public:
    ModelSession(const ComputeDevice& device, const std::filesystem::path& path,
                 SessionOptions options = {});
    ~ModelSession();

    const ModelDesc& desc() const { return model_.desc(); }
    const LoadedModel& model() const { return model_; }
    const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
    const tok::ChatTemplate& chat_template() const { return *chat_; }
    ForwardBackend& forward() { return *forward_; }
    // The checkpoint's routers and budget table (null for a plain model or a version-1
    // checkpoint): the only weights the session keeps on the CPU, for the depth chooser. The
    // rest went from the file to the forward; a reference forward loads its own
    // (ModelWeights::load(session.model())).
    const std::shared_ptr<const RouterSet>& routers() const { return routers_; }
    bool quantized() const { return forward_->quantized(); }
    const ComputeDevice& device() const { return device_; }

  private:
    ComputeDevice device_;
    LoadedModel model_;
    std::unique_ptr<tok::Tokenizer> tokenizer_;
    std::unique_ptr<tok::ChatTemplate> chat_;
    std::shared_ptr<const RouterSet> routers_;
    std::unique_ptr<ForwardBackend> forward_;
};

}  // namespace mq::rt
