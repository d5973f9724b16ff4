#include "runtime/outlier_transform.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <string>

#include "core/error.hpp"
#include "core/half.hpp"
#include "formats/model_loader.hpp"

namespace mq::rt {

namespace {

std::string layer_tensor(uint32_t l, const char* name) {
    return fmt::format("blk.{}.{}.weight", l, name);
}

constexpr const char* kAttentionReaders[] = {"attn_q", "attn_k", "attn_v"};
constexpr const char* kFeedForwardReaders[] = {"ffn_gate", "ffn_up"};

std::vector<uint32_t> pick_channels(const LoadedModel& m, uint32_t count) {
    const ModelDesc& d = m.desc();
    std::vector<double> score(d.dim, 0.0);
    for (uint32_t l = 0; l < d.n_layers; ++l)
        for (const char* norm : {"attn_norm", "ffn_norm"}) {
            std::vector<float> g = m.to_f32(m.get(layer_tensor(l, norm)));
            for (uint32_t i = 0; i < d.dim; ++i) score[i] += std::fabs(g[i]);
        }
    std::vector<uint32_t> order(d.dim);
    std::iota(order.begin(), order.end(), 0u);
    // Stable: ties keep the lower channel, so the choice is deterministic.
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return score[a] > score[b]; });
    order.resize(count);
    std::sort(order.begin(), order.end());
    return order;
}

// The tensor's values with `scale` applied to entry i of every row (a norm is one row), stored
// back in its own type when that is F32 or F16, else as F32.
void add_scaled(gguf::Writer& w, const LoadedModel& m, const ModelTensor& t,
                const std::vector<uint32_t>& channels, float scale) {
    std::vector<float> v = m.to_f32(t);
    const uint64_t row = t.dims.at(0);
    for (uint64_t r = 0; r < v.size() / row; ++r)
        for (uint32_t i : channels) v[r * row + i] *= scale;
    if (t.ggml_type == gguf::TensorType::F16) {
        std::vector<std::byte> bytes(v.size() * 2);
        for (size_t i = 0; i < v.size(); ++i) {
            const uint16_t h = float_to_half(v[i]);
            std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
        w.add_tensor(t.source_name, gguf::TensorType::F16, t.dims, std::move(bytes));
    } else {
        w.add_tensor_f32(t.source_name, t.dims, v);
    }
}

}  // namespace

std::vector<uint32_t> write_outlier_model(const std::filesystem::path& in,
                                          const std::filesystem::path& out,
                                          const OutlierOptions& o) {
    auto m = LoadedModel::open(in);
    const gguf::File* src = m.gguf();
    if (!src) fail("{}: the outlier transform reads GGUF files only", in.string());
    if (m.desc().mobiquant)
        fail("{} is a MoBiQuant checkpoint: transform the plain model it was made from",
             in.string());
    const ModelDesc& d = m.desc();
    if (o.channels == 0 || o.channels > d.dim)
        fail("--channels must be 1..{} (the model's dim), got {}", d.dim, o.channels);
    if (!(o.factor > 0) || !std::isfinite(o.factor))
        fail("--factor must be a positive number, got {}", o.factor);
    const std::vector<uint32_t> channels = pick_channels(m, o.channels);

    std::set<std::string> up, down;  // tensors to scale by c and by 1/c
    for (uint32_t l = 0; l < d.n_layers; ++l) {
        up.insert(layer_tensor(l, "attn_norm"));
        up.insert(layer_tensor(l, "ffn_norm"));
        for (const char* r : kAttentionReaders) down.insert(layer_tensor(l, r));
        for (const char* r : kFeedForwardReaders) down.insert(layer_tensor(l, r));
    }

    gguf::Writer w;
    w.set_alignment(src->alignment());
    for (const auto& [key, value] : src->metadata())
        if (key != "general.alignment") w.set(key, value);
    std::string channel_list;
    for (uint32_t c : channels)
        channel_list += fmt::format("{}{}", channel_list.empty() ? "" : " ", c);
    w.set_string("general.description",
                 fmt::format("{} with activation outliers: channels {} of every attention and "
                             "feed-forward norm x{}, the columns reading them / {} "
                             "(function-preserving)",
                             src->get_string_or("general.name", in.filename().string()),
                             channel_list, o.factor, o.factor));
    for (const gguf::TensorInfo& info : src->tensors()) {
        const ModelTensor* t = m.find(info.name);
        if (t && up.count(t->name))
            add_scaled(w, m, *t, channels, o.factor);
        else if (t && down.count(t->name))
            add_scaled(w, m, *t, channels, 1.0f / o.factor);
        else
            w.add_tensor(info.name, info.type, info.dims, src->tensor_data(info));
    }
    w.write(out);
    return channels;
}

}  // namespace mq::rt
