#include "calib/layer_calibrator.hpp"

#include "core/error.hpp"

namespace mq::calib {

using rt::Linear;

LayerCalibrator::LayerCalibrator(rt::ModelWeights& w, std::span<const uint32_t> tokens,
                                 uint32_t seq_len, LayerCalibration options)
    : w_(w),
      seq_len_(seq_len),
      options_(options),
      x_(static_cast<uint32_t>(tokens.size()), w.desc.dim),
      rng_(options.router.seed),
      scores_(w.layers.size() * rt::kLinearsPerLayer),
      routers_(w.layers.size() * rt::kLinearsPerLayer) {
    if (seq_len == 0 || tokens.size() % seq_len)
        fail("calibration tokens must fill whole sequences of {}", seq_len);
    const uint32_t dim = w.desc.dim;
    for (uint32_t t = 0; t < x_.n; ++t) {
        if (tokens[t] >= w.desc.vocab_size) fail("token {} is outside the vocabulary", tokens[t]);
        std::copy_n(w.token_embd.data() + size_t(tokens[t]) * dim, dim, x_.row(t));
    }
}

Rows LayerCalibrator::calibrate_linear(uint32_t l, Linear j, const Rows& x) {
    rt::LinearWeights& lin = w_.layers[l][j];
    // Base scale: clipping search weighted by E[x^2] of this linear's actual inputs.
    std::vector<float> importance(x.width, 0.0f);
    for (uint32_t t = 0; t < x.n; ++t)
        for (uint32_t i = 0; i < x.width; ++i) importance[i] += x.row(t)[i] * x.row(t)[i];
    for (float& v : importance) v /= float(x.n);
    quant::SliceOptions so;
    so.clip_steps = options_.clip_steps;
    so.channel_importance = importance;
    lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols, so);
    auto decoded = decode_all_depths(*lin.sliced);

    Rows errors = depth_errors(lin, decoded, x);
    Rows targets = gain_targets(errors);
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
    const ModelDesc& d = w_.desc;
    rt::LayerWeights& L = w_.layers[l];
    auto run = [&](Linear j, const Rows& x) {
        if (step) step(rt::linear_name(j));
        return calibrate_linear(l, j, x);
    };
    Rows h = rmsnorm_rows(x_, L.attn_norm, d.rms_eps);
    Rows q = run(Linear::Q, h);
    Rows k = run(Linear::K, h);
    Rows v = run(Linear::V, h);
    rope_rows(q, d, d.n_heads, seq_len_);
    rope_rows(k, d, d.n_kv_heads, seq_len_);
    Rows att = attention_rows(q, k, v, d, seq_len_);
    add_rows(x_, run(Linear::O, att));
    h = rmsnorm_rows(x_, L.ffn_norm, d.rms_eps);
    Rows gate = run(Linear::Gate, h);
    Rows up = run(Linear::Up, h);
    swiglu_rows(gate, up);
    add_rows(x_, run(Linear::Down, gate));
    // The float matrices are no longer needed: the checkpoint stores the slices.
    for (auto& lin : L.linear) lin.dense = {};
}

}  // namespace mq::calib
