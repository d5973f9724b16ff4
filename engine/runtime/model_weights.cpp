#include "runtime/model_weights.hpp"

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/router.hpp"
#include "runtime/weight_source.hpp"

namespace mq::rt {

const char* linear_name(Linear l) {
    static const char* names[] = {"q", "k", "v", "o", "gate", "up", "down"};
    return names[static_cast<uint32_t>(l)];
}

namespace {

// The f32 copy; the tensor's mapped pages are dropped, so reading a model tensor by tensor
// does not leave the whole file counted in the process's memory.
std::vector<float> read(const LoadedModel& m, const std::string& name, uint64_t expected) {
    const ModelTensor& t = m.get(name);
    std::vector<float> v = m.to_f32(t);
    m.drop_pages(t);
    if (v.size() != expected)
        fail("tensor {} has {} values; the model's metadata implies {}", name, v.size(), expected);
    return v;
}

}  // namespace

namespace {

// Every linear's shape: [out][in] per Linear.
void set_linear_shapes(const ModelDesc& d, LayerWeights& L) {
    const uint32_t out_dims[] = {d.q_dim(), d.kv_dim(), d.kv_dim(), d.dim,
                                 d.ffn_dim, d.ffn_dim,  d.dim};
    const uint32_t in_dims[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
        L.linear[j].rows = out_dims[j];
        L.linear[j].cols = in_dims[j];
    }
}

}  // namespace

ModelWeights ModelWeights::load_frame(const LoadedModel& model) {
    if (model.desc().mobiquant) check_checkpoint_format(model);
    ModelWeights w;
    w.desc = model.desc();
    w.output_norm = read(model, "output_norm.weight", w.desc.dim);
    w.layers.resize(w.desc.n_layers);
    for (LayerWeights& L : w.layers) set_linear_shapes(w.desc, L);
    if (w.desc.mobiquant)
        if (auto routers = load_routers(model))
            w.routers = std::make_shared<const RouterSet>(std::move(*routers));
    return w;
}

LayerWeights ModelWeights::load_layer(const LoadedModel& model, uint32_t layer) {
    const ModelDesc& d = model.desc();
    if (layer >= d.n_layers) fail("layer {} of a {}-layer model", layer, d.n_layers);
    LayerWeights L;
    set_linear_shapes(d, L);
    std::string p = fmt::format("blk.{}.", layer);
    L.attn_norm = read(model, p + "attn_norm.weight", d.dim);
    L.ffn_norm = read(model, p + "ffn_norm.weight", d.dim);
    for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
        LinearWeights& lw = L.linear[j];
        std::string base = linear_tensor_base(layer, static_cast<Linear>(j));
        if (d.mobiquant && !model.find(base + ".weight"))
            lw.sliced = load_sliced_linear(model, layer, static_cast<Linear>(j), lw.rows, lw.cols);
        else
            lw.dense = read(model, base + ".weight", uint64_t(lw.rows) * lw.cols);
        if (d.qkv_bias && j <= static_cast<uint32_t>(Linear::V))
            lw.bias = read(model, base + ".bias", lw.rows);
    }
    return L;
}

ModelWeights ModelWeights::load(const LoadedModel& model) {
    ModelWeights w = load_frame(model);
    const ModelDesc& d = w.desc;
    w.token_embd = read(model, "token_embd.weight", uint64_t(d.vocab_size) * d.dim);
    if (!d.tied_output) w.output = read(model, "output.weight", uint64_t(d.vocab_size) * d.dim);
    for (uint32_t i = 0; i < d.n_layers; ++i) w.layers[i] = load_layer(model, i);
    return w;
}

void ModelWeights::slice_all(const quant::SliceOptions& options) {
    for (auto& L : layers)
        for (auto& lw : L.linear)
            if (!lw.sliced) lw.sliced = quant::slice_matrix(lw.dense, lw.rows, lw.cols, options);
}

quant::SlicedMatrix ModelWeights::slice_head() const {
    return quant::slice_matrix(output_weights(), desc.vocab_size, desc.dim, {.clip_steps = 0});
}

bool ModelWeights::sliced() const {
    for (auto& L : layers)
        for (auto& lw : L.linear)
            if (!lw.sliced) return false;
    return !layers.empty();
}

TokenDepths uniform_depths(uint32_t n_layers, uint8_t depth) {
    LayerDepths l;
    l.fill(depth);
    return TokenDepths(n_layers, l);
}

}  // namespace mq::rt
