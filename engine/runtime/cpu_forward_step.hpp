#pragma once
// CpuForward's working memory for one step (cpu_forward.cpp allocates it, cpu_forward_step.cpp
// uses it).
#include "runtime/cpu_forward.hpp"

namespace mq::rt {

// Activations of max_batch tokens, allocated once; rows are contiguous
// ([T][width]).
class CpuForward::Step {
  public:
    Step(const ModelDesc& d, uint32_t batch)
        : x(uint64_t(batch) * d.dim),
          h(x.size()),
          tmp(x.size()),
          q(uint64_t(batch) * d.q_dim()),
          att(q.size()),
          k(uint64_t(batch) * d.kv_dim()),
          v(k.size()),
          gate(uint64_t(batch) * d.ffn_dim),
          up(gate.size()),
          depths(3, std::vector<uint8_t>(batch)) {}
    std::vector<float> x, h, tmp, q, att, k, v, gate, up;
    cpu::QuantizedActivations qa;  // the int8 form of the linears' shared input
    // The depth per token of each linear of one call (up to 3: q, k and v share an input).
    std::vector<std::vector<uint8_t>> depths;
};

}  // namespace mq::rt
