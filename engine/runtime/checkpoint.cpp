#include "runtime/checkpoint.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "formats/model_loader.hpp"

namespace mq::rt {

namespace {
const char* tensor_suffix(Linear l) {
    static const char* names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                  "ffn_gate", "ffn_up", "ffn_down"};
    return names[static_cast<uint32_t>(l)];
}

template <typename T>
std::span<const std::byte> as_bytes(const std::vector<T>& v) {
    return std::as_bytes(std::span(v));
}
}  // namespace

std::string linear_tensor_base(uint32_t layer, Linear l) {
    return fmt::format("blk.{}.{}", layer, tensor_suffix(l));
}

void save_checkpoint(const ModelWeights& w, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note,
                     const std::string& source_name) {
    if (!w.sliced()) fail("save_checkpoint: the weights are not sliced");
    const gguf::File* src = source.gguf();
    if (!src)
        fail(
            "quantizing a Hugging Face directory is not supported yet: convert it to GGUF first "
            "(llama.cpp's convert_hf_to_gguf.py)");
    gguf::Writer writer;
    for (const auto& [key, value] : src->metadata())
        if (key.rfind("mobiquant.", 0) != 0 && key != "general.alignment") writer.set(key, value);
    writer.set_u32("mobiquant.version", kCheckpointVersion);
    std::vector<int32_t> bits(quant::kSlices, quant::kSliceBits);
    writer.set_i32_array("mobiquant.slice_bits", bits);
    writer.set_u32("mobiquant.group_size", quant::kGroupSize);
    writer.set_string("mobiquant.calibration", calibration_note);
    if (!source_name.empty()) writer.set_string("mobiquant.source", source_name);
    if (w.routers) {
        writer.set_u32("mobiquant.router_hidden", w.routers->routers.at(0).hidden);
        writer.set_f32_array("mobiquant.budget_grid", w.routers->table.budgets);
        writer.add_tensor(
            "mobiquant.thresholds", gguf::TensorType::F32,
            {uint64_t(w.layers.size()) * kLinearsPerLayer, w.routers->table.budgets.size()},
            as_bytes(w.routers->table.thresholds));
    }

    // Tensors that are not routed linears, as stored in the source.
    std::vector<std::string> linear_names;
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            linear_names.push_back(linear_tensor_base(l, static_cast<Linear>(j)) + ".weight");
    for (const ModelTensor& t : source.tensors()) {
        if (std::find(linear_names.begin(), linear_names.end(), t.name) != linear_names.end())
            continue;
        if (!t.ggml_type) fail("tensor {} has a type GGUF cannot store", t.name);
        writer.add_tensor(t.source_name, *t.ggml_type, t.dims, source.bytes(t));
    }
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            const quant::SlicedMatrix& m = *w.layers[l].linear[j].sliced;
            std::string base = linear_tensor_base(l, static_cast<Linear>(j));
            for (uint32_t e = 0; e < quant::kSlices; ++e)
                writer.add_tensor(fmt::format("{}.slice{}", base, e + 1), gguf::TensorType::I32,
                                  {m.words_per_row(), m.rows}, as_bytes(m.planes[e]));
            writer.add_tensor(base + ".scale_zero", gguf::TensorType::F16,
                              {2, m.groups_per_row(), m.rows}, as_bytes(m.scale_zero));
            if (!w.routers) continue;
            const Router& r = w.routers->at(l, static_cast<Linear>(j));
            const auto f32 = gguf::TensorType::F32;
            writer.add_tensor(base + ".router_w1", f32, {r.in, r.hidden}, as_bytes(r.w1));
            writer.add_tensor(base + ".router_wa", f32, {r.hidden}, as_bytes(r.wa));
            writer.add_tensor(base + ".router_b1", f32, {r.hidden}, as_bytes(r.b1));
            writer.add_tensor(base + ".router_w2", f32, {r.hidden, kRouterOutputs}, as_bytes(r.w2));
            writer.add_tensor(base + ".router_b2", f32, {kRouterOutputs}, as_bytes(r.b2));
        }
    writer.write(out);
}

std::optional<RouterSet> load_routers(const LoadedModel& model) {
    const gguf::File* f = model.gguf();
    // Version 1 has no routers; a version-2 file may lack them too (slices only).
    if (!f || f->get_uint_or("mobiquant.version", 0) < 2 || !f->find("mobiquant.router_hidden"))
        return std::nullopt;
    const ModelDesc& d = model.desc();
    const uint64_t hidden = f->get_uint("mobiquant.router_hidden");
    if (hidden == 0 || hidden > 64)
        fail("{}: mobiquant.router_hidden is {}; 1..64 are supported", model.path().string(),
             hidden);
    auto read = [&](const std::string& name, std::vector<uint64_t> dims) {
        const ModelTensor& t = model.get(name);
        if (t.dims != dims)
            fail("tensor {} has shape {}; expected [{}]", name, t.shape_string(),
                 fmt::join(dims, ", "));
        return model.to_f32(t);
    };
    RouterSet set;
    set.table.budgets = f->get_float_array("mobiquant.budget_grid");
    const auto& b = set.table.budgets;
    if (b.size() < 2 || !std::is_sorted(b.begin(), b.end()) || b.front() > 2.0f || b.back() < 8.0f)
        fail("{}: mobiquant.budget_grid must rise from 2.0 to 8.0", model.path().string());
    const uint64_t n_linears = uint64_t(d.n_layers) * kLinearsPerLayer;
    set.table.thresholds = read("mobiquant.thresholds", {n_linears, b.size()});
    const uint32_t in_dims[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    for (uint32_t l = 0; l < d.n_layers; ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            std::string base = linear_tensor_base(l, static_cast<Linear>(j));
            Router r(in_dims[j], static_cast<uint32_t>(hidden));
            r.w1 = read(base + ".router_w1", {r.in, hidden});
            r.wa = read(base + ".router_wa", {hidden});
            r.b1 = read(base + ".router_b1", {hidden});
            r.w2 = read(base + ".router_w2", {hidden, kRouterOutputs});
            r.b2 = read(base + ".router_b2", {kRouterOutputs});
            set.routers.push_back(std::move(r));
        }
    return set;
}

quant::SlicedMatrix load_sliced_linear(const LoadedModel& model, uint32_t layer, Linear l,
                                       uint32_t rows, uint32_t cols) {
    quant::SlicedMatrix m;
    m.rows = rows;
    m.cols = cols;
    std::string base = linear_tensor_base(layer, l);
    auto read_u32 = [&](const std::string& name, std::vector<uint64_t> dims, size_t words) {
        const ModelTensor& t = model.get(name);
        if (t.dims != dims)
            fail("tensor {} has shape {}; a {}x{} linear needs [{}]", name, t.shape_string(), rows,
                 cols, fmt::join(dims, ", "));
        auto bytes = model.bytes(t);
        if (bytes.size() != words * 4)
            fail("tensor {} holds {} bytes, expected {}", name, bytes.size(), words * 4);
        std::vector<uint32_t> out(words);
        std::memcpy(out.data(), bytes.data(), bytes.size());
        return out;
    };
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        m.planes[e] = read_u32(fmt::format("{}.slice{}", base, e + 1), {m.words_per_row(), rows},
                               uint64_t(m.words_per_row()) * rows);
    m.scale_zero = read_u32(base + ".scale_zero", {2, m.groups_per_row(), rows},
                            uint64_t(m.groups_per_row()) * rows);
    return m;
}

}  // namespace mq::rt
