#pragma once
// The forward pass under a depth policy: the one owner of how each token's depths are chosen.
// A routed checkpoint under a budget lets its routers choose on the GPU, with the budget
// table's thresholds; any other policy on sliced weights chooses here, token by token (uniform
// depth, the mix of neighbouring uniform depths, random draws); unquantized weights run dense.
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "runtime/depth_policy.hpp"
#include "runtime/model_weights.hpp"

namespace mq::rt {

class ModelSession;
struct RouterSet;
class ForwardBackend;

class PolicyForward {
  public:
    // `routers` are those of the weights `forward` was built from (used when it is routed).
    PolicyForward(ForwardBackend& forward, std::shared_ptr<const RouterSet> routers,
                  DepthPolicy policy);
    PolicyForward(ModelSession& session, DepthPolicy policy);

    struct Result {
        std::vector<float> logits;        // every token's ([n][vocab]) or the last one's
        std::vector<TokenDepths> depths;  // the depths each token used (none when unquantized)
    };
    Result run(std::span<const uint32_t> tokens, uint32_t start_pos, bool all_logits);

    void set_policy(DepthPolicy policy);
    const DepthPolicy& policy() const { return policy_; }
    bool routed() const { return !thresholds_.empty(); }  // the routers choose, inside the forward
    const std::vector<float>& thresholds() const { return thresholds_; }  // while routed()
    // One token's depths when the routers do not choose (a caller that batches tokens of
    // several policies into one forward step asks each policy for its tokens' depths).
    TokenDepths next_depths();
    // Starts the policy over: the mix's running average and the random draws' seed.
    void reset();
    ForwardBackend& forward() { return forward_; }

  private:
    ForwardBackend& forward_;
    uint32_t n_layers_;
    std::shared_ptr<const RouterSet> routers_;  // null unless the forward runs them
    DepthPolicy policy_;
    std::vector<float> thresholds_;  // per routed linear, while routed()
    double carry_ = 0;               // mix: accumulated (target - achieved) depth
    std::mt19937 rng_;               // random
};

}  // namespace mq::rt
