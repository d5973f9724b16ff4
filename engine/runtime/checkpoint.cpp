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
                     const std::filesystem::path& out, const std::string& calibration_note) {
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
        }
    writer.write(out);
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
