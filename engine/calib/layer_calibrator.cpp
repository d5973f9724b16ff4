#include "calib/layer_calibrator.hpp"

#include "calib/linear_sensitivity.hpp"
#include "core/error.hpp"

namespace mq::calib {

using rt::Linear;

LayerCalibrator::LayerCalibrator(rt::ModelWeights& w, std::span<const uint32_t> tokens,
                                 uint32_t seq_len, LayerCalibration options)
    : LayerCalibrator(w, embed_rows(w, tokens), seq_len, options) {}

LayerCalibrator::LayerCalibrator(rt::ModelWeights& w, Rows embeddings, uint32_t seq_len,
                                 LayerCalibration options)
    : w_(w),
      seq_len_(seq_len),
      options_(options),
      x_(std::move(embeddings)),
      rng_(options.router.seed),
      scores_(w.layers.size() * rt::kLinearsPerLayer),
      routers_(w.layers.size() * rt::kLinearsPerLayer) {
    if (seq_len == 0 || x_.n % seq_len)
        fail("calibration tokens must fill whole sequences of {}", seq_len);
    if (x_.width != w.desc.dim)
        fail("{}-wide embeddings for a model of dim {}", x_.width, w.desc.dim);
}

Rows LayerCalibrator::calibrate_linear(uint32_t l, Linear j, const Rows& x) {
    rt::LinearWeights& lin = w_.layers[l][j];
    // Base scale: clipping search weighted by E[x^2] of this linear's actual inputs.
    std::vector<float> importance = mean_squares(x);
    quant::SliceOptions so = options_.slicing;
    so.channel_importance = importance;
    lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols, so);
    auto decoded = decode_all_depths(*lin.sliced);

    Rows errors = depth_errors(lin, decoded, x);
    Rows weighted = errors;
    if (options_.residual_weights && weights_errors_by_residual(j)) {
        // x_ is the residual stream this linear's output is about to be added to.
        std::vector<float> tw = residual_error_weights(x_);
        for (uint32_t t = 0; t < weighted.n; ++t)
            for (uint32_t k = 0; k < weighted.width; ++k) weighted.row(t)[k] *= tw[t];
    }
    Rows targets = gain_targets(weighted);
    RouterTraining ro = options_.router;
    ro.seed = options_.router.seed + l * rt::kLinearsPerLayer + static_cast<uint32_t>(j);
    RouterFit fit = train_router(x, targets, ro);
    const uint32_t index = l * rt::kLinearsPerLayer + static_cast<uint32_t>(j);
    scores_[index] = router_scores(fit.router, x);
    routers_[index] = std::move(fit.router);

    LinearReport rep{l, j, fit.r2, {}};
    Rows exact = linear_rows(lin, decoded, x, {});
    double power = 0;
    for (float v : exact.v) power += double(v) * v;
    for (uint32_t k = 0; k < quant::kSlices; ++k) {
        double e = 0;
        for (uint32_t t = 0; t < x.n; ++t) e += errors.row(t)[k];
        rep.rel_error[k] = power > 0 ? e / power : 0;
    }
    reports_.push_back(rep);

    std::uniform_int_distribution<int> pick(1, quant::kSlices);
    std::vector<uint8_t> depths(x.n);
    for (auto& d : depths) d = static_cast<uint8_t>(pick(rng_));
    return linear_rows(lin, decoded, x, depths);
}

void LayerCalibrator::calibrate_layer(uint32_t l,
                                      const std::function<void(const std::string&)>& step) {
    layer_pass(w_, l, x_, seq_len_, [&](uint32_t layer, Linear j, const Rows& x) {
        if (step) step(rt::linear_name(j));
        return calibrate_linear(layer, j, x);
    });
    // The float matrices are no longer needed: the checkpoint stores the slices. (Assigning {}
    // to a vector empties it but keeps its memory.)
    for (auto& lin : w_.layers[l].linear) std::vector<float>().swap(lin.dense);
}

}  // namespace mq::calib
