#pragma once
// Layer-by-layer calibration: every calibration token goes through the model one layer at a
// time on the CPU. Each linear is quantized from the inputs it sees in the partly quantized
// model (earlier layers and earlier linears of this layer already quantized), its router is
// trained on those tokens, and the quantized linear (at a random depth per token, so later layers
// see every precision the runtime may use) produces the next inputs.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "calib/router_training.hpp"
#include "calib/rows.hpp"
#include "runtime/model_weights.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

struct LayerCalibration {
    // The base scale/zero search (its channel_importance is filled per linear).
    quant::SliceOptions slicing;
    // Weight o/down output errors per token by 1 / (residual RMS)^2 in the router targets
    // (calib/linear_sensitivity.hpp, residual_error_weights).
    bool residual_weights = false;  // as QuantizeOptions::residual_weights
    RouterTraining router;
};

struct LinearReport {
    uint32_t layer = 0;
    rt::Linear linear = rt::Linear::Q;
    double router_r2 = 0;      // fit of the log gains on the calibration tokens
    double rel_error[4] = {};  // mean output error at depth k / mean output power
};

class LayerCalibrator {
  public:
    // tokens: [sequences * seq_len] ids, each sequence starting with BOS at position 0.
    LayerCalibrator(rt::ModelWeights& w, std::span<const uint32_t> tokens, uint32_t seq_len,
                    LayerCalibration options);
    // Streaming: the tokens' embeddings given (embed_rows of the model file), and w holding
    // only the layers being calibrated (w.layers[l] filled before calibrate_layer(l)).
    LayerCalibrator(rt::ModelWeights& w, Rows embeddings, uint32_t seq_len,
                    LayerCalibration options);

    // Quantizes layer `l` (layers go in order 0, 1, ...). step(stage) is called before each
    // linear, and may throw to cancel.
    void calibrate_layer(uint32_t l, const std::function<void(const std::string&)>& step);

    // Router scores of every calibrated linear on the calibration tokens ([layer*7+linear]).
    const std::vector<Rows>& scores() const { return scores_; }
    std::vector<rt::Router>& routers() { return routers_; }
    const std::vector<LinearReport>& reports() const { return reports_; }

  private:
    // Quantizes linear (l, j) from its inputs x, trains its router, returns its output at
    // random depths.
    Rows calibrate_linear(uint32_t l, rt::Linear j, const Rows& x);

    rt::ModelWeights& w_;
    uint32_t seq_len_;
    LayerCalibration options_;
    Rows x_;  // the residual stream of every calibration token, [n][dim]
    std::mt19937 rng_;
    std::vector<Rows> scores_;
    std::vector<rt::Router> routers_;
    std::vector<LinearReport> reports_;
};

}  // namespace mq::calib
