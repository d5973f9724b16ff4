#include "runtime/cpu_ops.hpp"

#include <algorithm>
#include <cmath>

namespace mq::rt::cpu_ops {

void rmsnorm_rows(const float* x, std::span<const float> weight, double eps, uint32_t rows,
                  float* out) {
    const uint64_t n = weight.size();
    for (uint32_t t = 0; t < rows; ++t) {
        const float* xr = x + t * n;
        float* o = out + t * n;
        double ss = 0;
        for (uint64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / double(n) + eps));
        for (uint64_t i = 0; i < n; ++i) o[i] = (xr[i] * scale) * weight[i];
    }
}

void rope_row(float* row, uint32_t heads, uint32_t head_dim, uint32_t rope_dim, RopeLayout layout,
              uint32_t pos, std::span<const double> freq) {
    const uint32_t pairs = rope_dim / 2;
    // One angle per pair, shared by every head of the row.
    float c[512], s[512];
    for (uint32_t i0 = 0; i0 < pairs; i0 += 512) {
        const uint32_t i1 = std::min(pairs, i0 + 512);
        for (uint32_t i = i0; i < i1; ++i) {
            const double angle = double(pos) * freq[i];
            c[i - i0] = static_cast<float>(std::cos(angle));
            s[i - i0] = static_cast<float>(std::sin(angle));
        }
        for (uint32_t h = 0; h < heads; ++h) {
            float* head = row + uint64_t(h) * head_dim;
            for (uint32_t i = i0; i < i1; ++i) {
                float& a = layout == RopeLayout::Normal ? head[2 * i] : head[i];
                float& b = layout == RopeLayout::Normal ? head[2 * i + 1] : head[i + pairs];
                const float a0 = a, b0 = b, ci = c[i - i0], si = s[i - i0];
                a = a0 * ci - b0 * si;
                b = a0 * si + b0 * ci;
            }
        }
    }
}

}  // namespace mq::rt::cpu_ops
