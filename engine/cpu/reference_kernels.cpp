#include "cpu/reference_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "cpu/sliced_matmul.hpp"

namespace mq::cpu {

void quantize_activations_reference(const float* x, uint32_t rows, uint32_t cols,
                                    QuantizedActivations& out) {
    out.reshape(rows, cols);
    for (uint32_t r = 0; r < rows; ++r) {
        const float* xr = x + uint64_t(r) * cols;
        int8_t* qr = out.q.data() + uint64_t(r) * out.row_bytes;
        for (uint32_t g = 0; g < out.groups; ++g) {
            const uint32_t begin = g * 128, end = std::min(cols, begin + 128);
            float max_all = 0;
            for (uint32_t c = begin; c < end; ++c) {
                if (!std::isfinite(xr[c])) fail("activation {} of row {} is {}", c, r, xr[c]);
                max_all = std::max(max_all, std::fabs(xr[c]));
            }
            // Outliers: u = |x| in 16-bit fixed point of the largest, above the ratio times the
            // mean of round(u); the largest few.
            std::vector<uint32_t> outliers;
            const float k = 65536.0f / max_all, columns = static_cast<float>(end - begin);
            if (max_all > 0 && std::isfinite(k)) {
                int32_t u_sum = 0;
                for (uint32_t c = begin; c < end; ++c)
                    u_sum += static_cast<int32_t>(std::lrintf(std::fabs(xr[c]) * k));
                const float limit = kOutlierRatio * static_cast<float>(u_sum);
                for (uint32_t c = begin; c < end; ++c)
                    if (std::fabs(xr[c]) * k * columns > limit) outliers.push_back(c);
            }
            std::stable_sort(outliers.begin(), outliers.end(), [&](uint32_t a, uint32_t b) {
                return std::fabs(xr[a]) > std::fabs(xr[b]);
            });
            if (outliers.size() > kMaxOutliersPerGroup) outliers.resize(kMaxOutliersPerGroup);
            std::sort(outliers.begin(), outliers.end());
            auto is_outlier = [&](uint32_t c) {
                return std::find(outliers.begin(), outliers.end(), c) != outliers.end();
            };
            // Per 16 columns, the scale of the values that are not outliers.
            for (uint32_t b = begin; b < end; b += kScaleColumns) {
                const uint32_t b_end = std::min(end, b + kScaleColumns);
                float amax = 0;
                for (uint32_t c = b; c < b_end; ++c)
                    if (!is_outlier(c)) amax = std::max(amax, std::fabs(xr[c]));
                const float inv = amax > 0 ? 127.0f / amax : 0.0f;
                int32_t sum = 0;
                for (uint32_t c = b; c < b_end; ++c) {
                    const int v = is_outlier(c) ? 0 : static_cast<int>(std::lrintf(xr[c] * inv));
                    const int8_t q = static_cast<int8_t>(std::clamp(v, -127, 127));
                    qr[QuantizedActivations::position(c)] = q;
                    sum += q;
                }
                const uint64_t i = uint64_t(r) * out.groups * kScalesPerGroup + b / kScaleColumns;
                out.scales[i] = amax / 127.0f;
                out.sums[i] = sum;
            }
            for (uint32_t c : outliers) {
                out.outlier_cols.push_back(c);
                out.outlier_values.push_back(xr[c]);
            }
        }
        out.outlier_begin[r + 1] = static_cast<uint32_t>(out.outlier_cols.size());
    }
}

void sliced_matmul_reference(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                             std::span<const uint8_t> depths, float* y) {
    check_sliced_matmul_args(w, x, depths);
    for (uint32_t t = 0; t < x.rows; ++t)
        for (uint32_t r = 0; r < w.rows(); ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < w.cols(); ++c)
                acc += double(w.weight(r, c, depths[t])) * x.value(t, c);
            y[uint64_t(t) * w.rows() + r] = static_cast<float>(acc);
        }
}

void dense_matmul_reference(const DenseMatrixCpu& w, const float* x, uint32_t n, float* y) {
    for (uint32_t t = 0; t < n; ++t)
        for (uint32_t r = 0; r < w.rows(); ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < w.cols(); ++c)
                acc += double(w.weight(r, c)) * x[uint64_t(t) * w.cols() + c];
            y[uint64_t(t) * w.rows() + r] = static_cast<float>(acc);
        }
}

}  // namespace mq::cpu
