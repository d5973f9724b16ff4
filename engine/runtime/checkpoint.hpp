#pragma once
// MoBiQuant checkpoints: GGUF files holding every routed linear as MoBiSlice planes instead of a
// float matrix (docs/design.md section 5). Everything else (metadata, tokenizer, embeddings, norms,
// biases, output head) is copied from the source model unchanged, so GGUF tools still open it.
//
//   metadata  mobiquant.version = 2 (1: no routers), mobiquant.slice_bits = [2,2,2,2],
//             mobiquant.group_size = 128, mobiquant.calibration (free text: how it was made),
//             mobiquant.source (file name of the plain model it was made from),
//             mobiquant.source_type (its linears' tensor type: "f16", "q4_k", ...),
//             mobiquant.router_hidden = H, mobiquant.budget_grid = [2.0, 2.05, ... 8.0] (f32)
//   tensors   blk.N.<linear>.slice1 .. slice4   I32 {words_per_row, rows}: 16 two-bit codes a word
//             blk.N.<linear>.scale_zero         F16 {2, groups, rows}: s1, z1 per row and group
//             blk.N.<linear>.router_w1          F32 {K, H}   (runtime/router.hpp)
//             blk.N.<linear>.router_wa, _b1     F32 {H}
//             blk.N.<linear>.router_w2          F32 {H, 3}
//             blk.N.<linear>.router_b2          F32 {3}
//             mobiquant.thresholds              F32 {layers * 7, budgets}: per-linear thresholds
#include <filesystem>
#include <functional>
#include <string>

#include <optional>

#include "runtime/model_weights.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

class SliceStore;

constexpr uint32_t kCheckpointVersion = 2;
constexpr uint32_t kOldestCheckpointVersion = 1;  // still read: budgets mix uniform depths

// `w` must be sliced; `source` is the model it was made from (its metadata and non-linear
// tensors are copied). Written through a temporary file and a rename.
// Routers, when the weights carry them, are written too.
// source_name (mobiquant.source) names the plain model it was made from, for `eval`.
void save_checkpoint(const ModelWeights& w, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note,
                     const std::string& source_name = {});
// The same for a job that streams: the slices come from `slices` (w's linears hold only their
// shapes), and no tensor is held in memory whole while writing. written(fraction) follows the
// bytes written and may throw (mq::Cancelled) to stop: no file is left then.
void save_checkpoint(const ModelWeights& w, const SliceStore& slices, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note,
                     const std::string& source_name = {},
                     const std::function<void(double)>& written = {});

// The tensor name prefix of a linear: "blk.3.ffn_down".
std::string linear_tensor_base(uint32_t layer, Linear l);

// Reads the routers and budget table of a version-2 checkpoint (nullopt for version 1).
std::optional<RouterSet> load_routers(const LoadedModel& model);

// Reads the slices of one linear from a checkpoint (used by ModelWeights::load).
quant::SlicedMatrix load_sliced_linear(const LoadedModel& model, uint32_t layer, Linear l,
                                       uint32_t rows, uint32_t cols);

}  // namespace mq::rt
