#include "calib/calibration_tokens.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::calib {

CalibrationTokens calibration_tokens(const tok::Tokenizer& tokenizer, const std::string& text,
                                     uint32_t tokens, uint32_t window, uint32_t context) {
    if (tokens == 0) fail("calibration needs at least one token");
    if (window < 2) fail("calibration sequences need at least 2 tokens");
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::vector<int32_t> ids = tokenizer.encode(text, eo);
    if (ids.size() < tokens)
        fail(
            "the calibration text has {} tokens; {} were requested (use a longer text or fewer "
            "calibration tokens)",
            ids.size(), tokens);
    const int32_t bos = tokenizer.bos();
    if (bos < 0) fail("the model's vocabulary has no BOS token to start calibration sequences");
    CalibrationTokens out;
    out.seq_len = std::min({window, context ? context : window, tokens + 1});
    out.sequences = std::max(1u, tokens / (out.seq_len - 1));
    for (uint32_t s = 0; s < out.sequences; ++s) {
        out.ids.push_back(static_cast<uint32_t>(bos));
        for (uint32_t i = 0; i + 1 < out.seq_len; ++i)
            out.ids.push_back(static_cast<uint32_t>(ids[size_t(s) * (out.seq_len - 1) + i]));
    }
    return out;
}

}  // namespace mq::calib
