#pragma once
// How each token's depths are chosen. A plain (unquantized) model always runs dense.
//  - Uniform: every routed linear reads the same number of slices (--depth k).
//  - Budget: a target of average bits (2.0 .. 8.0). Until the per-linear routers of the
//    calibration job exist in a checkpoint, the budget is met by mixing the two neighbouring
//    uniform depths token by token (error diffusion keeps the running mean on target).
#include <cstdint>

#include "runtime/model_weights.hpp"

namespace mq::rt {

struct DepthPolicy {
    enum class Kind { Uniform, Budget } kind = Kind::Uniform;
    uint8_t depth = 4;  // Uniform
    float bits = 8.0f;  // Budget: target average bits over routed linears

    static DepthPolicy uniform(uint8_t depth);
    static DepthPolicy budget(float bits);  // throws mq::Error outside 2..8
};

class DepthChooser {
  public:
    DepthChooser(uint32_t n_layers, DepthPolicy policy) : n_layers_(n_layers), policy_(policy) {}
    void set_policy(DepthPolicy policy) { policy_ = policy; }
    const DepthPolicy& policy() const { return policy_; }
    TokenDepths next();  // depths for the next token
    void reset() { carry_ = 0; }

  private:
    uint32_t n_layers_;
    DepthPolicy policy_;
    double carry_ = 0;  // accumulated (target - achieved) depth
};

// Average bits over routed linears (2 bits per slice).
float average_bits(const TokenDepths& depths);

}  // namespace mq::rt
