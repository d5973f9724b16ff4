#include "quant/reference_ops.hpp"

#include "core/error.hpp"

namespace mq::quant {

std::vector<float> mobislice_matvec_reference(const SlicedMatrix& m, std::span<const float> x,
                                              uint32_t depth) {
    uint32_t d = depth;
    return mobislice_matmat_reference(m, x, std::span<const uint32_t>(&d, 1));
}

std::vector<float> mobislice_matmat_reference(const SlicedMatrix& m, std::span<const float> x,
                                              std::span<const uint32_t> depths) {
    const uint64_t tokens = depths.size();
    if (x.size() != tokens * m.cols)
        fail("reference matmat: {} inputs for {} tokens of {}", x.size(), tokens, m.cols);
    std::vector<float> y(tokens * m.rows);
    for (uint64_t t = 0; t < tokens; ++t) {
        const float* xt = x.data() + t * m.cols;
        for (uint32_t r = 0; r < m.rows; ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < m.cols; ++c) acc += double(m.weight(r, c, depths[t])) * xt[c];
            y[t * m.rows + r] = static_cast<float>(acc);
        }
    }
    return y;
}

std::vector<float> dense_matmat_reference(std::span<const float> w, uint32_t rows, uint32_t cols,
                                          std::span<const float> x, uint32_t tokens) {
    if (w.size() != uint64_t(rows) * cols || x.size() != uint64_t(tokens) * cols)
        fail("reference dense matmat: shapes do not match");
    std::vector<float> y(uint64_t(tokens) * rows);
    for (uint32_t t = 0; t < tokens; ++t)
        for (uint32_t r = 0; r < rows; ++r) {
            double acc = 0;
            for (uint32_t c = 0; c < cols; ++c)
                acc += double(w[uint64_t(r) * cols + c]) * x[uint64_t(t) * cols + c];
            y[uint64_t(t) * rows + r] = static_cast<float>(acc);
        }
    return y;
}

}  // namespace mq::quant
