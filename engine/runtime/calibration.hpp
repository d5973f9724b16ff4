#pragma once
// Calibration statistics for the quantizer: the mean square of every input channel of every
// routed linear (E[x_i^2]), gathered by running the reference forward over calibration text.
// The base-slice clipping search weights its error by them (DESIGN.md section 2, step 1).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::tok {
class Tokenizer;
}

namespace mq::rt {

struct ChannelStats {
    // [layer][linear] -> E[x^2] per input column of that linear
    std::vector<std::array<std::vector<float>, kLinearsPerLayer>> mean_square;
    uint64_t tokens = 0;
};

struct CalibrationOptions {
    uint32_t tokens = 2048;  // calibration tokens in all
    uint32_t window = 256;   // tokens per sequence (each starts with BOS at position 0)
    std::function<void(uint64_t done, uint64_t total)> progress;
};

// Throws mq::Error before any work when the text is too short for the requested tokens.
ChannelStats collect_channel_stats(const ModelWeights& w, const tok::Tokenizer& tokenizer,
                                   const std::string& text, const CalibrationOptions& options);

// Slices every linear with its channel statistics weighting the clipping search.
void slice_with_stats(ModelWeights& w, const ChannelStats& stats, uint32_t clip_steps,
                      const std::function<void(uint64_t done, uint64_t total)>& progress = {});

}  // namespace mq::rt
