#include "runtime/policy_forward.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "runtime/forward_backend.hpp"
#include "runtime/model_session.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

PolicyForward::PolicyForward(ForwardBackend& forward, std::shared_ptr<const RouterSet> routers,
                             DepthPolicy policy)
    : forward_(forward),
      n_layers_(forward.desc().n_layers),
      routers_(forward.routed() ? std::move(routers) : nullptr) {
    set_policy(std::move(policy));
}

PolicyForward::PolicyForward(ModelSession& session, DepthPolicy policy)
    : PolicyForward(session.forward(), session.routers(), std::move(policy)) {}

void PolicyForward::set_policy(DepthPolicy policy) {
    policy_ = std::move(policy);
    if (policy_.kind == DepthPolicy::Kind::Random) {
        if (policy_.distribution->size() != size_t(n_layers_) * kLinearsPerLayer)
            fail("the depth distribution covers {} linears, the model has {}",
                 policy_.distribution->size(), n_layers_ * kLinearsPerLayer);
        rng_.seed(policy_.seed);
    }
    thresholds_.clear();
    if (routers_ && policy_.kind == DepthPolicy::Kind::Budget)
        thresholds_ = routers_->table.lookup(policy_.bits, n_layers_ * kLinearsPerLayer);
}

void PolicyForward::reset() {
    carry_ = 0;
    if (policy_.kind == DepthPolicy::Kind::Random) rng_.seed(policy_.seed);
}

PolicyForward::Result PolicyForward::run(std::span<const uint32_t> tokens, uint32_t start_pos,
                                         bool all_logits) {
    Result r;
    if (!forward_.quantized()) {
        r.logits = forward_.forward(tokens, start_pos, {}, all_logits);
    } else if (routed()) {
        r.logits = forward_.forward_routed(tokens, start_pos, thresholds_, all_logits, &r.depths);
    } else {
        for (size_t i = 0; i < tokens.size(); ++i) r.depths.push_back(next_depths());
        r.logits = forward_.forward(tokens, start_pos, r.depths, all_logits);
    }
    return r;
}

TokenDepths PolicyForward::next_depths() {
    switch (policy_.kind) {
        case DepthPolicy::Kind::Uniform:
            return uniform_depths(n_layers_, policy_.depth);
        case DepthPolicy::Kind::Random: {
            TokenDepths out(n_layers_);
            std::uniform_real_distribution<double> u(0.0, 1.0);
            for (uint32_t l = 0; l < n_layers_; ++l)
                for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                    const auto& p = (*policy_.distribution)[l * kLinearsPerLayer + j];
                    double r = u(rng_), c = 0;
                    uint8_t d = 4;
                    for (uint8_t k = 0; k < 4; ++k)
                        if (r < (c += p[k])) {
                            d = k + 1;
                            break;
                        }
                    out[l][j] = d;
                }
            return out;
        }
        case DepthPolicy::Kind::Budget:  // no routers: met by the mix
        case DepthPolicy::Kind::Mix:
            break;
    }
    // The two neighbouring uniform depths, token by token; error diffusion keeps the running
    // mean on target.
    double target = policy_.bits / 2.0;  // mean depth
    double lo = std::floor(target);
    double want = target + carry_;
    uint8_t d = static_cast<uint8_t>(std::clamp(want >= lo + 0.5 ? lo + 1 : lo, 1.0, 4.0));
    if (target >= 4.0) d = 4;
    carry_ = want - d;
    return uniform_depths(n_layers_, d);
}

}  // namespace mq::rt
