#include "runtime/calibration.hpp"

#include "core/error.hpp"
#include "runtime/reference_forward.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::rt {

ChannelStats collect_channel_stats(const ModelWeights& w, const tok::Tokenizer& tokenizer,
                                   const std::string& text, const CalibrationOptions& o) {
    tok::EncodeOptions eo;
    eo.add_special = false;
    std::vector<int32_t> ids = tokenizer.encode(text, eo);
    if (o.tokens == 0) fail("calibration needs at least one token");
    if (ids.size() < o.tokens)
        fail(
            "the calibration text has {} tokens; {} were requested (use a longer text or fewer "
            "--calib-tokens)",
            ids.size(), o.tokens);
    int32_t bos = tokenizer.bos();
    uint32_t window = std::min(o.window, w.desc.context_length ? w.desc.context_length : o.window);
    ChannelStats stats;
    stats.mean_square.resize(w.layers.size());
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            stats.mean_square[l][j].assign(w.layers[l].linear[j].cols, 0.0f);

    ReferenceForward ref(w, window);
    std::vector<std::vector<double>> sums(w.layers.size() * kLinearsPerLayer);
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            sums[l * kLinearsPerLayer + j].assign(w.layers[l].linear[j].cols, 0.0);
    uint64_t done = 0;
    for (size_t start = 0; done < o.tokens; start += window - (bos >= 0 ? 1 : 0)) {
        ref.reset();
        uint32_t pos = 0;
        if (bos >= 0) ref.step(static_cast<uint32_t>(bos), pos++, {});
        for (; pos < window && done < o.tokens; ++pos) {
            size_t i = start + pos - (bos >= 0 ? 1 : 0);
            ref.step(static_cast<uint32_t>(ids[i]), pos, {});
            for (uint32_t l = 0; l < w.layers.size(); ++l)
                for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                    // q, k, v (and gate, up) share one input: read it once.
                    if (j == 1 || j == 2 || j == 5) continue;
                    std::vector<float> x = ref.last_linear_input(l, static_cast<Linear>(j));
                    auto& acc = sums[l * kLinearsPerLayer + j];
                    for (size_t c = 0; c < x.size(); ++c) acc[c] += double(x[c]) * x[c];
                }
            ++done;
            if (o.progress) o.progress(done, o.tokens);
        }
    }
    stats.tokens = done;
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            uint32_t shared = j == 1 || j == 2 ? 0 : j == 5 ? 4 : j;
            const auto& acc = sums[l * kLinearsPerLayer + shared];
            auto& out = stats.mean_square[l][j];
            for (size_t c = 0; c < out.size(); ++c) out[c] = static_cast<float>(acc[c] / done);
        }
    return stats;
}

void slice_with_stats(ModelWeights& w, const ChannelStats& stats, uint32_t clip_steps,
                      const std::function<void(uint64_t, uint64_t)>& progress) {
    uint64_t total = uint64_t(w.layers.size()) * kLinearsPerLayer, done = 0;
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            LinearWeights& lin = w.layers[l].linear[j];
            quant::SliceOptions so;
            so.clip_steps = clip_steps;
            if (!stats.mean_square.empty()) so.channel_importance = stats.mean_square[l][j];
            lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols, so);
            if (progress) progress(++done, total);
        }
}

}  // namespace mq::rt
