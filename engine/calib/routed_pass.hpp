#pragma once
// Calibration tokens run through the quantized model as the runtime runs them: each linear's
// router scores its input and a threshold turns the scores into the token's depth
// (runtime/router.hpp), so every layer sees the activations that routed earlier layers give
// (the calibration itself runs earlier layers at random depths). On the calibration forward
// (calib/rows.hpp), one layer at a time from a WeightSource.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "calib/layer_backward.hpp"
#include "calib/rows.hpp"
#include "runtime/router.hpp"

namespace mq::calib {

// Several routings in one pass: token t is routed with thresholds[run_of_token[t]].
struct RoutedRuns {
    std::vector<std::vector<float>> thresholds;  // [run][layer * 7 + linear]
    std::vector<uint32_t> run_of_token;          // [token]
};

// The scores every linear's router gives its input ([layer * 7 + linear], rows of 3, one per
// token). x: the tokens' embeddings, whole sequences of seq_len rows. The layers need their
// slices (their dense weights are not read). step(layer) is called before each layer and may
// throw to cancel.
std::vector<Rows> routed_scores(const WeightSource& w, std::span<const rt::Router> routers, Rows x,
                                uint32_t seq_len, const RoutedRuns& runs,
                                const std::function<void(uint32_t)>& step = {});

}  // namespace mq::calib
