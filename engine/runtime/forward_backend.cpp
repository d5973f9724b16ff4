#include "runtime/forward_backend.hpp"

#include "core/error.hpp"

namespace mq::rt {

bool check_multi_step(const ModelDesc& d, const MultiStepShape& backend, size_t tokens,
                      size_t positions, size_t slots, size_t depths, size_t thresholds) {
    const uint64_t n_linears = uint64_t(d.n_layers) * kLinearsPerLayer;
    if (backend.slots_reserved == 0) fail("forward_multi needs reserve_slots first");
    if (tokens == 0 || tokens > backend.max_batch)
        fail("a step takes 1..{} tokens, got {}", backend.max_batch, tokens);
    if (positions != tokens || slots != tokens)
        fail("{} tokens but {} positions and {} slots", tokens, positions, slots);
    const bool routed = backend.sliced && thresholds != 0;
    if (routed && !backend.has_routers)
        fail("this model has no routers (not a MoBiQuant checkpoint of version 2)");
    if (routed && thresholds != tokens * n_linears)
        fail("{} router thresholds for {} tokens of {} routed linears", thresholds, tokens,
             n_linears);
    if (backend.sliced && !routed && depths != tokens)
        fail("{} tokens but {} depth sets", tokens, depths);
    return routed;
}

}  // namespace mq::rt
