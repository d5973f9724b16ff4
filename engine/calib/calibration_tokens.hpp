#pragma once
// Calibration text as model input: sequences of [BOS] + (seq_len - 1) consecutive text tokens,
// the way perplexity windows are fed, so calibration sees what evaluation and chat see.
#include <cstdint>
#include <string>
#include <vector>

namespace mq::tok {
class Tokenizer;
}

namespace mq::calib {

struct CalibrationTokens {
    std::vector<uint32_t> ids;  // [sequences * seq_len]
    uint32_t seq_len = 0;
    uint32_t sequences = 0;
};

// `tokens` text tokens in all (rounded down to whole sequences, at least one), sequences of at
// most `window` tokens and at most the model's context. mq::Error when the text is too short.
CalibrationTokens calibration_tokens(const tok::Tokenizer& tokenizer, const std::string& text,
                                     uint32_t tokens, uint32_t window, uint32_t context);

}  // namespace mq::calib
