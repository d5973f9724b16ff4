#pragma once
// MoBiQuant checkpoints: GGUF files holding every routed linear as MoBiSlice planes instead of a
// float matrix (DESIGN.md section 6). Everything else (metadata, tokenizer, embeddings, norms,
// biases, output head) is copied from the source model unchanged, so GGUF tools still open it.
//
//   metadata  mobiquant.version = 1, mobiquant.slice_bits = [2,2,2,2], mobiquant.group_size = 128,
//             mobiquant.calibration (free text: how the scales were chosen)
//   tensors   blk.N.<linear>.slice1 .. slice4   I32 {words_per_row, rows}: 16 two-bit codes a word
//             blk.N.<linear>.scale_zero         F16 {2, groups, rows}: s1, z1 per row and group
#include <filesystem>
#include <string>

#include "runtime/model_weights.hpp"

namespace mq::rt {

constexpr uint32_t kCheckpointVersion = 1;

// `w` must be sliced; `source` is the model it was made from (its metadata and non-linear
// tensors are copied). Written through a temporary file and a rename.
void save_checkpoint(const ModelWeights& w, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note);

// The tensor name prefix of a linear: "blk.3.ffn_down".
std::string linear_tensor_base(uint32_t layer, Linear l);

// Reads the slices of one linear from a checkpoint (used by ModelWeights::load).
quant::SlicedMatrix load_sliced_linear(const LoadedModel& model, uint32_t layer, Linear l,
                                       uint32_t rows, uint32_t cols);

}  // namespace mq::rt
