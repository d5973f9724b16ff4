#include "calib/routed_pass.hpp"

#include "calib/router_training.hpp"
#include "core/error.hpp"

namespace mq::calib {

std::vector<Rows> routed_scores(const WeightSource& w, std::span<const rt::Router> routers, Rows x,
                                uint32_t seq_len, const RoutedRuns& runs,
                                const std::function<void(uint32_t)>& step) {
    const uint32_t n_linears = w.desc.n_layers * rt::kLinearsPerLayer;
    if (routers.size() != n_linears)
        fail("{} routers for {} routed linears", routers.size(), n_linears);
    if (runs.run_of_token.size() != x.n)
        fail("{} run indices for {} tokens", runs.run_of_token.size(), x.n);
    for (uint32_t r : runs.run_of_token)
        if (r >= runs.thresholds.size())
            fail("run {} of {} does not exist", r, runs.thresholds.size());
    for (const auto& thr : runs.thresholds)
        if (thr.size() != n_linears) fail("{} thresholds for {} linears", thr.size(), n_linears);
    if (seq_len == 0 || x.n % seq_len)
        fail("routed tokens must fill whole sequences of {}", seq_len);

    std::vector<Rows> scores(n_linears);
    std::vector<std::vector<float>> decoded;  // W(1)..W(4) of the current linear, reused
    for (uint32_t l = 0; l < w.desc.n_layers; ++l) {
        if (step) step(l);
        const rt::LayerWeights& L = w.layer(l);
        layer_pass(w.desc, L, l, x, seq_len, [&](uint32_t layer, rt::Linear j, const Rows& in) {
            const rt::LinearWeights& lin = L[j];
            if (!lin.sliced)
                fail("layer {} {}: the routed pass needs its slices", layer, rt::linear_name(j));
            const uint32_t i = layer * rt::kLinearsPerLayer + static_cast<uint32_t>(j);
            Rows s = router_scores(routers[i], in);
            std::vector<uint8_t> depths(in.n);
            for (uint32_t t = 0; t < in.n; ++t) {
                const float* r = s.row(t);
                depths[t] =
                    rt::routed_depth({r[0], r[1], r[2]}, runs.thresholds[runs.run_of_token[t]][i]);
            }
            scores[i] = std::move(s);
            decode_all_depths(*lin.sliced, decoded);
            return linear_rows(lin, decoded, in, depths);
        });
    }
    return scores;
}

}  // namespace mq::calib
