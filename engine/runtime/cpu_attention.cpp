#include "runtime/cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace {

// Eight partial sums the compiler keeps in one vector register.
float dot(const float* a, const float* b, uint32_t n) {
    float acc[8] = {};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (uint32_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    float sum = 0;
    for (; i < n; ++i) sum += a[i] * b[i];
    for (float x : acc) sum += x;
    return sum;
}

}  // namespace

void attention(const ModelDesc& d, uint32_t layer, std::span<const KvPlace> places, const float* q,
               float* out, cpu::ThreadPool& pool) {
    const uint32_t hd = d.head_dim, kv_dim = d.kv_dim(), q_dim = d.q_dim();
    const uint32_t group = d.n_heads / d.n_kv_heads;
    const float inv_sqrt = static_cast<float>(1.0 / std::sqrt(double(hd)));
    const uint32_t items = static_cast<uint32_t>(places.size()) * d.n_heads;
    auto heads = [&](uint32_t begin, uint32_t end) {
        std::vector<float> p;
        std::vector<float> acc(hd);
        for (uint32_t item = begin; item < end; ++item) {
            const uint32_t t = item / d.n_heads, h = item % d.n_heads;
            const KvPlace& place = places[t];
            const float* qh = q + uint64_t(t) * q_dim + uint64_t(h) * hd;
            const uint64_t kv_off = uint64_t(h / group) * hd;
            const float* keys = place.cache->keys(layer, place.row0) + kv_off;
            const float* values = place.cache->values(layer, place.row0) + kv_off;
            const uint32_t n = place.pos + 1;
            p.resize(n);
            float max_score = -INFINITY;
            for (uint32_t s = 0; s < n; ++s) {
                p[s] = dot(qh, keys + uint64_t(s) * kv_dim, hd) * inv_sqrt;
                max_score = std::max(max_score, p[s]);
            }
            float sum = 0;
            for (uint32_t s = 0; s < n; ++s) sum += p[s] = std::exp(p[s] - max_score);
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (uint32_t s = 0; s < n; ++s) {
                const float* vs = values + uint64_t(s) * kv_dim;
                const float w = p[s];
                for (uint32_t i = 0; i < hd; ++i) acc[i] += w * vs[i];
            }
            float* o = out + uint64_t(t) * q_dim + uint64_t(h) * hd;
            const float inv_sum = 1.0f / sum;
            for (uint32_t i = 0; i < hd; ++i) o[i] = acc[i] * inv_sum;
        }
    };
    // A decode step's attention over a short context is less work than waking the pool.
    uint64_t work = 0;
    for (const KvPlace& p : places) work += uint64_t(p.pos + 1) * d.n_heads * hd;
    if (work < (1u << 18))
        heads(0, items);
    else
        pool.parallel_for(items, heads);
}

}  // namespace mq::rt
