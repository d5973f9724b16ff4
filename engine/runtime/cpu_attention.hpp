#pragma once
// CpuForward's KV cache and causal grouped-query attention over a batch of
// tokens that may belong to different sequences (forward_multi), each reading
// its own sequence's rows.
#include <cstdint>
#include <span>
#include <vector>

#include "cpu/thread_pool.hpp"
#include "formats/model_desc.hpp"

namespace mq::rt {

// Keys and values of `rows` positions per layer: [layer][row][kv_dim] floats
// each.
class KvCache {
  public:
    KvCache() = default;
    KvCache(uint32_t layers, uint32_t rows, uint32_t kv_dim);
    uint32_t rows() const { return rows_; }
    float* keys(uint32_t layer, uint32_t row) { return k_.data() + offset(layer, row); }
    float* values(uint32_t layer, uint32_t row) { return v_.data() + offset(layer, row); }
    uint64_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  private:
    uint64_t offset(uint32_t layer, uint32_t row) const {
        return (uint64_t(layer) * rows_ + row) * kv_dim_;
    }
    uint32_t rows_ = 0, kv_dim_ = 0;
    std::vector<float> k_, v_;
};

// Where a token of a step lives: its sequence's positions 0.. are rows row0..
// of `cache`, and the token is at position pos.
struct KvPlace {
    KvCache* cache = nullptr;
    uint32_t row0 = 0, pos = 0;
};

// Writes each token's k and v rows ([T][kv_dim]) into its place in layer
// `layer`.
void store_kv(uint32_t layer, std::span<const KvPlace> places, const float* k, const float* v,
              uint32_t kv_dim);

// out[t] ([n_heads][head_dim]) = softmax(q_t . k / sqrt(head_dim)) v over
// positions 0..pos of token t's sequence; query head h reads kv head h /
// (n_heads / n_kv_heads).
void attention(const ModelDesc& d, uint32_t layer, std::span<const KvPlace> places, const float* q,
               float* out, cpu::ThreadPool& pool);

}  // namespace mq::rt
