#include "runtime/weight_source.hpp"

#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

namespace {

// Copies rows [row0, row0 + rows) of a sliced matrix's planes and scales into `out`.
void copy_rows(const quant::SlicedMatrix& m, uint32_t row0, uint32_t rows,
               const kernels::SlicedRows& out) {
    const uint64_t words = m.words_per_row(), groups = m.groups_per_row();
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        std::memcpy(out.planes[e].data(), m.planes[e].data() + row0 * words, rows * words * 4);
    std::memcpy(out.scale_zero.data(), m.scale_zero.data() + row0 * groups, rows * groups * 4);
}

// Slices rows of f32 weights (slice_matrix is row by row, so a block gives the same codes as
// the whole matrix) into `out`.
void slice_rows(std::span<const float> values, uint32_t rows, uint32_t cols,
                const quant::SliceOptions& options, const kernels::SlicedRows& out) {
    copy_rows(quant::slice_matrix(values, rows, cols, options), 0, rows, out);
}

}  // namespace

std::pair<uint32_t, uint32_t> WeightSource::shape(MatrixId m) const {
    const ModelDesc& d = desc();
    if (m.kind != MatrixId::Kind::Linear) return {d.vocab_size, d.dim};
    const uint32_t out_dims[] = {d.q_dim(), d.kv_dim(), d.kv_dim(), d.dim,
                                 d.ffn_dim, d.ffn_dim,  d.dim};
    const uint32_t in_dims[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    const auto j = static_cast<uint32_t>(m.linear);
    return {out_dims[j], in_dims[j]};
}

void ModelWeightsSource::dense_rows(MatrixId m, uint32_t row0, uint32_t rows,
                                    std::span<float> out) const {
    const std::vector<float>* v = nullptr;
    uint32_t cols = w_.desc.dim;
    switch (m.kind) {
        case MatrixId::Kind::Embedding:
            v = &w_.token_embd;
            break;
        case MatrixId::Kind::Output:
            v = &w_.output_weights();
            break;
        case MatrixId::Kind::Linear: {
            const LinearWeights& lw = w_.layers.at(m.layer)[m.linear];
            v = &lw.dense;
            cols = lw.cols;
            break;
        }
    }
    const uint64_t begin = uint64_t(row0) * cols, n = uint64_t(rows) * cols;
    if (begin + n > v->size() || out.size() != n)
        fail("weights: rows {}..{} of a {}-value matrix (dropped, or the wrong shape)", row0,
             row0 + rows, v->size());
    std::memcpy(out.data(), v->data() + begin, n * 4);
}

void ModelWeightsSource::sliced_rows(uint32_t layer, Linear l, uint32_t row0, uint32_t rows,
                                     const kernels::SlicedRows& out) const {
    const LinearWeights& lw = w_.layers.at(layer)[l];
    if (!lw.sliced) fail("layer {} linear {} is not sliced", layer, linear_name(l));
    copy_rows(*lw.sliced, row0, rows, out);
}

void check_checkpoint_format(const LoadedModel& model) {
    const gguf::File* f = model.gguf();
    uint64_t version = f ? f->get_uint_or("mobiquant.version", 0) : 0;
    if (version < kOldestCheckpointVersion || version > kCheckpointVersion)
        fail(
            "{} is a MoBiQuant checkpoint of format version {}; this build reads versions {} to {}",
            model.path().string(), version, kOldestCheckpointVersion, kCheckpointVersion);
    if (f->get_uint_or("mobiquant.group_size", 0) != quant::kGroupSize)
        fail("{}: mobiquant.group_size must be {}", model.path().string(), quant::kGroupSize);
    auto bits = f->get_int_array("mobiquant.slice_bits");
    if (bits != std::vector<int64_t>(quant::kSlices, quant::kSliceBits))
        fail("{}: only 4 slices of 2 bits are supported (mobiquant.slice_bits)",
             model.path().string());
}

FileWeightSource::FileWeightSource(const LoadedModel& model, bool slice_plain,
                                   quant::SliceOptions slicing)
    : model_(model),
      desc_(model.desc()),
      checkpoint_(desc_.mobiquant),
      slice_plain_(slice_plain),
      slicing_(slicing) {
    if (checkpoint_) {
        check_checkpoint_format(model);
        if (auto r = load_routers(model))
            routers_ = std::make_shared<const RouterSet>(std::move(*r));
    }
}

std::vector<float> FileWeightSource::vector(const std::string& name, uint64_t expected) const {
    std::vector<float> v = model_.to_f32(model_.get(name));
    if (v.size() != expected)
        fail("tensor {} has {} values; the model's metadata implies {}", name, v.size(), expected);
    return v;
}

std::vector<float> FileWeightSource::attn_norm(uint32_t l) const {
    return vector(fmt::format("blk.{}.attn_norm.weight", l), desc_.dim);
}
std::vector<float> FileWeightSource::ffn_norm(uint32_t l) const {
    return vector(fmt::format("blk.{}.ffn_norm.weight", l), desc_.dim);
}
std::vector<float> FileWeightSource::output_norm() const {
    return vector("output_norm.weight", desc_.dim);
}
std::vector<float> FileWeightSource::bias(uint32_t l, Linear j) const {
    if (!desc_.qkv_bias || static_cast<uint32_t>(j) > static_cast<uint32_t>(Linear::V)) return {};
    return vector(linear_tensor_base(l, j) + ".bias", shape({MatrixId::Kind::Linear, l, j}).first);
}

const ModelTensor& FileWeightSource::matrix_tensor(MatrixId m) const {
    switch (m.kind) {
        case MatrixId::Kind::Embedding:
            return model_.get("token_embd.weight");
        case MatrixId::Kind::Output:
            return model_.get(desc_.tied_output ? "token_embd.weight" : "output.weight");
        case MatrixId::Kind::Linear:
            break;
    }
    return model_.get(linear_tensor_base(m.layer, m.linear) + ".weight");
}

void FileWeightSource::dense_rows(MatrixId m, uint32_t row0, uint32_t rows,
                                  std::span<float> out) const {
    const ModelTensor& t = matrix_tensor(m);
    const uint32_t cols = shape(m).second;
    if (out.size() != uint64_t(rows) * cols)
        fail("tensor {}: {} values asked for {} rows of {}", t.name, out.size(), rows, cols);
    // Converting is memory-bound per row: split the block over the cores.
    parallel_for(rows, [&](uint64_t r0, uint64_t r1) {
        std::vector<uint32_t> ids(r1 - r0);
        std::iota(ids.begin(), ids.end(), uint32_t(row0 + r0));
        std::vector<float> part = model_.rows_to_f32(t, ids);
        std::copy(part.begin(), part.end(), out.begin() + r0 * cols);
    });
}

void FileWeightSource::sliced_rows(uint32_t layer, Linear l, uint32_t row0, uint32_t rows,
                                   const kernels::SlicedRows& out) const {
    const std::string base = linear_tensor_base(layer, l);
    const auto [n_rows, cols] = shape({MatrixId::Kind::Linear, layer, l});
    if (checkpoint_ && !model_.find(base + ".weight")) {
        // Stored sliced: copy the rows' planes and scales straight from the mapping.
        const uint32_t groups = (cols + quant::kGroupSize - 1) / quant::kGroupSize;
        const uint64_t words = uint64_t(groups) * quant::kWordsPerGroup;
        auto copy = [&](const std::string& name, std::vector<uint64_t> dims, uint64_t per_row,
                        std::span<uint32_t> dst) {
            const ModelTensor& t = model_.get(name);
            if (t.dims != dims)
                fail("tensor {} has shape {}; a {}x{} linear needs [{}]", name, t.shape_string(),
                     n_rows, cols, fmt::join(dims, ", "));
            auto bytes = model_.bytes(t);
            if (bytes.size() != uint64_t(n_rows) * per_row * 4)
                fail("tensor {} holds {} bytes, expected {}", name, bytes.size(),
                     uint64_t(n_rows) * per_row * 4);
            std::memcpy(dst.data(), bytes.data() + uint64_t(row0) * per_row * 4, dst.size_bytes());
        };
        for (uint32_t e = 0; e < quant::kSlices; ++e)
            copy(fmt::format("{}.slice{}", base, e + 1), {words, n_rows}, words, out.planes[e]);
        copy(base + ".scale_zero", {2, groups, n_rows}, groups, out.scale_zero);
        return;
    }
    std::vector<float> values(uint64_t(rows) * cols);
    dense_rows({MatrixId::Kind::Linear, layer, l}, row0, rows, values);
    slice_rows(values, rows, cols, slicing_, out);
}

void FileWeightSource::release(MatrixId m) const {
    if (m.kind == MatrixId::Kind::Linear) {
        const std::string base = linear_tensor_base(m.layer, m.linear);
        for (const char* suffix :
             {".weight", ".slice1", ".slice2", ".slice3", ".slice4", ".scale_zero"})
            if (const ModelTensor* t = model_.find(base + suffix)) model_.drop_pages(*t);
        return;
    }
    model_.drop_pages(matrix_tensor(m));
}

uint32_t FileWeightSource::sliced_block_rows(uint32_t cols) const {
    // About 16 MiB of f32 per block when slicing (enough rows for every core); stored planes
    // are copied in the upload's default blocks.
    if (checkpoint_ && !slice_plain_) return 0;
    return std::max<uint32_t>(64, (16u << 20) / (uint32_t(cols) * 4));
}

}  // namespace mq::rt
