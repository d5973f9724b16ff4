#pragma once
// The `eval` job: the quality table of a MoBiQuant checkpoint on held-out text (docs/design.md
// section 6). Every configuration runs the forward (Vulkan or CPU) with the perplexity protocol of
// assets/README.md over the same tokens.
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "core/job_progress.hpp"
#include "eval/quality_table.hpp"

#include "runtime/forward_factory.hpp"

namespace mq::eval {

struct EvalOptions {
    std::filesystem::path model;     // the MoBiQuant checkpoint
    std::filesystem::path fp_model;  // its plain source model (fp and bit-specific rows); empty:
                                     // the source recorded in the checkpoint, beside it
    std::string text;                // held-out UTF-8 text
    std::string text_name;           // recorded in the table
    std::string calibration_text;    // statistics for the bit-specific baselines' clipping search
    uint32_t calibration_tokens = 2048;  // of it (as `quantize` uses by default)
    uint64_t max_tokens = 2048;          // tokens scored per configuration (0 = all)
    std::vector<double> budgets;         // empty: 2.0, 2.5, ... 8.0
    uint32_t seed = 1;                   // random-depth control
    bool routed_only = false;            // skip the uniform and bit-specific rows (quick runs)
};

// Fails fast on missing files or a model that is not a checkpoint; throws mq::Cancelled when
// *cancel becomes true.
QualityTable run_eval(const rt::ComputeDevice& device, const EvalOptions& options,
                      const JobProgressFn& progress = {},
                      const std::atomic<bool>* cancel = nullptr);

}  // namespace mq::eval
