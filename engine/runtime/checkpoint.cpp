#include "runtime/checkpoint.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/hf_gguf_metadata.hpp"
#include "runtime/slice_store.hpp"

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

namespace {

// One part of a linear's slices (plane e < kSlices, or the scale/zero words) into a sink.
using SlicePart = std::function<void(uint32_t layer, Linear linear, uint32_t part,
                                     const gguf::Writer::ByteSink& sink)>;

// The source model's bytes in chunks, its mapped pages dropped afterwards: copying a large
// embedding table does not leave it counted in the process's memory.
gguf::Writer::TensorSource copied_from(const LoadedModel& source, const ModelTensor& t) {
    return [&source, &t](const gguf::Writer::ByteSink& sink) {
        std::span<const std::byte> bytes = source.bytes(t);
        constexpr size_t kChunk = 16u << 20;
        for (size_t done = 0; done < bytes.size(); done += kChunk)
            sink(bytes.data() + done, std::min(kChunk, bytes.size() - done));
        source.drop_pages(t);
    };
}

void write_checkpoint(const ModelWeights& w, const SlicePart& slice_part, const LoadedModel& source,
                      const std::filesystem::path& out, const std::string& calibration_note,
                      const std::string& source_name,
                      const std::function<void(double)>& written = {}) {
    const gguf::File* src = source.gguf();
    gguf::Writer writer;
    // Streamed tensors report the share of their bytes written so far.
    uint64_t total = 0, done = 0;
    auto add_from = [&](std::string name, gguf::TensorType type, std::vector<uint64_t> dims,
                        gguf::Writer::TensorSource from) {
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        total += gguf::tensor_bytes(type, n);
        writer.add_tensor_from(std::move(name), type, std::move(dims),
                               [&, from = std::move(from)](const gguf::Writer::ByteSink& sink) {
                                   from([&](const void* p, size_t n) {
                                       sink(p, n);
                                       done += n;
                                   });
                                   if (written) written(double(done) / double(total));
                               });
    };
    if (src) {
        for (const auto& [key, value] : src->metadata())
            if (key.rfind("mobiquant.", 0) != 0 && key != "general.alignment")
                writer.set(key, value);
    } else {
        // A Hugging Face directory: llama.cpp's keys from its config and tokenizer.
        write_hf_model_metadata(writer, source);
        add_hf_extra_tensors(writer, source);
    }
    writer.set_u32("mobiquant.version", kCheckpointVersion);
    std::vector<int32_t> bits(quant::kSlices, quant::kSliceBits);
    writer.set_i32_array("mobiquant.slice_bits", bits);
    writer.set_u32("mobiquant.group_size", quant::kGroupSize);
    writer.set_string("mobiquant.calibration", calibration_note);
    if (!source_name.empty()) writer.set_string("mobiquant.source", source_name);
    if (const ModelTensor* q = source.find(linear_tensor_base(0, Linear::Q) + ".weight"))
        writer.set_string("mobiquant.source_type", q->type);
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
        if (!src && !t.canonical) continue;  // rotary caches, a tied model's spare lm_head
        if (!t.ggml_type) fail("tensor {} has a type GGUF cannot store", t.name);
        // GGUF names: the file's own for a GGUF source, the canonical ones for a directory.
        add_from(src ? t.source_name : t.name, *t.ggml_type, t.dims, copied_from(source, t));
    }
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            const LinearWeights& lw = w.layers[l].linear[j];
            const quant::SlicedMatrix shape{.rows = lw.rows, .cols = lw.cols};
            const Linear linear = static_cast<Linear>(j);
            std::string base = linear_tensor_base(l, linear);
            auto part = [&slice_part, l, linear](uint32_t p) {
                return [&slice_part, l, linear, p](const gguf::Writer::ByteSink& sink) {
                    slice_part(l, linear, p, sink);
                };
            };
            for (uint32_t e = 0; e < quant::kSlices; ++e)
                add_from(fmt::format("{}.slice{}", base, e + 1), gguf::TensorType::I32,
                         {shape.words_per_row(), shape.rows}, part(e));
            add_from(base + ".scale_zero", gguf::TensorType::F16,
                     {2, shape.groups_per_row(), shape.rows}, part(quant::kSlices));
            if (!w.routers) continue;
            const Router& r = w.routers->at(l, linear);
            const auto f32 = gguf::TensorType::F32;
            writer.add_tensor(base + ".router_w1", f32, {r.in, r.hidden}, as_bytes(r.w1));
            writer.add_tensor(base + ".router_wa", f32, {r.hidden}, as_bytes(r.wa));
            writer.add_tensor(base + ".router_b1", f32, {r.hidden}, as_bytes(r.b1));
            writer.add_tensor(base + ".router_w2", f32, {r.hidden, kRouterOutputs}, as_bytes(r.w2));
            writer.add_tensor(base + ".router_b2", f32, {kRouterOutputs}, as_bytes(r.b2));
        }
    writer.write(out);
}

}  // namespace

void save_checkpoint(const ModelWeights& w, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note,
                     const std::string& source_name) {
    if (!w.sliced()) fail("save_checkpoint: the weights are not sliced");
    auto in_memory = [&w](uint32_t l, Linear j, uint32_t part, const gguf::Writer::ByteSink& sink) {
        const quant::SlicedMatrix& m = *w.layers[l][j].sliced;
        const std::vector<uint32_t>& words = part < quant::kSlices ? m.planes[part] : m.scale_zero;
        sink(words.data(), words.size() * sizeof(uint32_t));
    };
    write_checkpoint(w, in_memory, source, out, calibration_note, source_name);
}

void save_checkpoint(const ModelWeights& w, const SliceStore& slices, const LoadedModel& source,
                     const std::filesystem::path& out, const std::string& calibration_note,
                     const std::string& source_name, const std::function<void(double)>& written) {
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            if (!slices.has(l, static_cast<Linear>(j)))
                fail("save_checkpoint: layer {} {} has no slices", l,
                     linear_name(static_cast<Linear>(j)));
    auto stored = [&slices](uint32_t l, Linear j, uint32_t part,
                            const gguf::Writer::ByteSink& sink) {
        slices.read_part(l, j, part, sink);
    };
    write_checkpoint(w, stored, source, out, calibration_note, source_name, written);
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
