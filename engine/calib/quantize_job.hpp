#pragma once
// The `quantize` job (docs/design.md section 2): a plain model (GGUF file or Hugging Face
// directory) and a calibration text in, one MoBiQuant checkpoint out. Streams: one layer's weights
// in memory at a time, the finished slices in a temporary file until the checkpoint is written.
// Layer by layer on activations captured from the partly quantized model: activation-weighted base
// scales, the residual slices, one router MLP per routed linear, and the table of per-linear
// thresholds over target budgets.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/job_progress.hpp"
#include "quant/mobislice.hpp"

namespace mq::calib {

struct QuantizeOptions {
    std::filesystem::path model;   // plain GGUF (F32/F16/BF16/Q8_0/K-quants) or HF directory
    std::filesystem::path out;     // the checkpoint, written through a temporary file
    std::string calibration_text;  // UTF-8 text the activations are captured on
    std::string calibration_name;  // where it came from, recorded in the checkpoint
    uint32_t tokens = 2048;        // calibration tokens in all
    uint32_t window = 256;         // tokens per calibration sequence (BOS first)
    uint32_t clip_steps = 8;       // clip ratios tried per group (0 = min/max)
    uint32_t expand_steps = 2;     // widened ranges tried per group (quant::SliceOptions)
    // Extra weight of each depth's error in the base scale search (quant::SliceOptions).
    std::vector<float> depth_weights = [] {
        const auto w = quant::SliceOptions{}.depth_weights;
        return std::vector<float>(w.begin(), w.end());
    }();
    // Depth 1's weight in groups whose importance is spread; 0 = none (quant::SliceOptions).
    float spread_base_weight = quant::SliceOptions{}.spread_base_weight;
    uint32_t router_hidden = 16;  // hidden units of each router MLP
    uint32_t router_epochs = 60;  // passes over the calibration tokens per router
    uint32_t seed = 1;
    // Budget table: one global threshold on sensitivity-adjusted scores (calib/
    // linear_sensitivity.hpp) rather than every linear meeting the target on its own. On by
    // default (it makes the shipped checkpoint): lower KL from full precision at every budget
    // and far lower perplexity below 4 bits than the per-linear table (docs/results.md,
    // "Alternatives measured").
    bool global_allocation = true;
    // Per residual slice e = 2, 3, 4: the depth whose quantization error measures the loss
    // sensitivity that slice's scores are converted with (folded into the routers' b2).
    std::vector<uint32_t> probe_depths = {2, 2, 2};
    bool residual_weights = true;  // o/down errors per token / residual RMS^2
    // Global allocation: refit the budget table on the first refit_tokens calibration tokens
    // (whole sequences) run through the model routed at anchor budgets, so the achieved bits meet
    // the budget where routing changes the activations (calib/threshold_refit.hpp); 0 = off.
    uint32_t refit_tokens = 1024;
    uint32_t refit_window = 128;  // tokens of each calibration sequence the refit routes
    uint32_t refit_rounds = 1;    // routed passes, each refitting from the previous thresholds
};

// Fails fast (mq::Error) on what would only fail later: unreadable or already quantized model,
// a Hugging Face tokenizer GGUF metadata cannot state, no routed linears, calibration text too
// short for the requested tokens, an output path that cannot be written. Cheap: reads metadata and
// tokenizes the text.
void check_quantize_inputs(const QuantizeOptions& options);

// Runs the whole job. Calls check_quantize_inputs first. Throws mq::Cancelled as soon as
// *cancel becomes true (checked between steps); no output file is left behind then, nor on error.
void quantize(const QuantizeOptions& options, const JobProgressFn& progress = {},
              const std::atomic<bool>* cancel = nullptr);

}  // namespace mq::calib
