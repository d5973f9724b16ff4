#include "quant/rtn.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/parallel.hpp"
#include "quant/mobislice.hpp"

namespace mq::quant {

namespace {
struct Grid {
    float s = 0, z = 0;
};

Grid make_grid(float lo, float hi, uint32_t levels) {
    lo = std::min(lo, 0.0f);  // keep 0 inside the range so z stays in [0, levels - 1]
    hi = std::max(hi, 0.0f);
    float s = (hi - lo) / float(levels - 1);
    if (!(s > 0)) s = 1e-8f;
    Grid g;
    g.s = half_to_float(float_to_half(s));
    if (!(g.s > 0)) g.s = s;
    g.z = half_to_float(float_to_half(-lo / g.s));
    return g;
}

float dequant(float w, const Grid& g, uint32_t levels) {
    float q = std::clamp(std::nearbyint(w / g.s + g.z), 0.0f, float(levels - 1));
    return g.s * (q - g.z);
}
}  // namespace

std::vector<float> rtn_quantize(std::span<const float> weights, uint32_t rows, uint32_t cols,
                                uint32_t bits, std::span<const float> importance,
                                uint32_t clip_steps, float min_clip) {
    if (bits < 1 || bits > 16) fail("round-to-nearest needs 1..16 bits, got {}", bits);
    if (weights.size() != uint64_t(rows) * cols)
        fail("rtn_quantize: {} values for a {}x{} matrix", weights.size(), rows, cols);
    if (!importance.empty() && importance.size() != cols)
        fail("rtn_quantize: {} channel weights for {} columns", importance.size(), cols);
    const uint32_t levels = 1u << bits;
    std::vector<float> out(weights.size());
    parallel_for(rows, [&](uint64_t r0, uint64_t r1) {
        for (uint64_t r = r0; r < r1; ++r)
            for (uint32_t c0 = 0; c0 < cols; c0 += kGroupSize) {
                const uint32_t n = std::min(kGroupSize, cols - c0);
                const float* w = weights.data() + r * cols + c0;
                auto [mn, mx] = std::minmax_element(w, w + n);
                auto error = [&](const Grid& g) {
                    double e = 0;
                    for (uint32_t i = 0; i < n; ++i) {
                        double d = w[i] - dequant(w[i], g, levels);
                        e += d * d * (importance.empty() ? 1.0 : importance[c0 + i]);
                    }
                    return e;
                };
                Grid best = make_grid(*mn, *mx, levels);
                double best_err = error(best);
                for (uint32_t step = 1; step <= clip_steps; ++step) {
                    float a = 1.0f - (1.0f - min_clip) * step / clip_steps;
                    Grid g = make_grid(a * *mn, a * *mx, levels);
                    double e = error(g);
                    if (e < best_err) best_err = e, best = g;
                }
                for (uint32_t i = 0; i < n; ++i)
                    out[r * cols + c0 + i] = dequant(w[i], best, levels);
            }
    });
    return out;
}

}  // namespace mq::quant
