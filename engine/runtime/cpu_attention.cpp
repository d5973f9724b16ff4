#include "runtime/cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/vector_math.hpp"

namespace mq::rt {

KvCache::KvCache(uint32_t layers, uint32_t rows, uint32_t kv_dim)
    : rows_(rows),
      kv_dim_(kv_dim),
      k_(uint64_t(layers) * rows * kv_dim),
      v_(uint64_t(layers) * rows * kv_dim) {}

void store_kv(uint32_t layer, std::span<const KvPlace> places, const float* k, const float* v,
              uint32_t kv_dim) {
    for (size_t t = 0; t < places.size(); ++t) {
        const KvPlace& p = places[t];
        std::memcpy(p.cache->keys(layer, p.row0 + p.pos), k + t * kv_dim, kv_dim * sizeof(float));
        std::memcpy(p.cache->values(layer, p.row0 + p.pos), v + t * kv_dim, kv_dim * sizeof(float));
    }
}

void attention(const ModelDesc& d, uint32_t layer, std::span<const KvPlace> places, const float* q,
               float* out, cpu::ThreadPool& pool) {
    const uint32_t hd = d.head_dim, kv_dim = d.kv_dim(), q_dim = d.q_dim();
    const uint32_t group = d.n_heads / d.n_kv_heads;
    const float inv_sqrt = static_cast<float>(1.0 / std::sqrt(double(hd)));
    // One item per token and key/value head: its group of query heads reads each cached row once.
    const uint32_t items = static_cast<uint32_t>(places.size()) * d.n_kv_heads;
    auto groups = [&](uint32_t begin, uint32_t end) {
        std::vector<float> scores;
        for (uint32_t item = begin; item < end; ++item) {
            const uint32_t t = item / d.n_kv_heads, kvh = item % d.n_kv_heads;
            const KvPlace& place = places[t];
            const uint64_t kv_off = uint64_t(kvh) * hd,
                           q_off = uint64_t(t) * q_dim + kv_off * group;
            const uint32_t n = place.pos + 1;
            scores.resize(uint64_t(std::min(group, 4u)) * n);
            cpu::attend_heads(q + q_off, group, place.cache->keys(layer, place.row0) + kv_off,
                              place.cache->values(layer, place.row0) + kv_off, kv_dim, n, hd,
                              inv_sqrt, scores.data(), out + q_off);
        }
    };
    // A decode step's attention over a short context (under ~60 positions on a 1B model, about
    // 10 us a layer) is less work than waking the pool.
    uint64_t work = 0;
    for (const KvPlace& p : places) work += uint64_t(p.pos + 1) * d.n_heads * hd;
    if (work < (1u << 17))
        groups(0, items);
    else
        pool.parallel_for(items, groups);
}

}  // namespace mq::rt
