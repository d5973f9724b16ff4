#include "runtime/synthetic_model.hpp"

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/parallel.hpp"
#include "quant/mobislice.hpp"
#include "runtime/checkpoint.hpp"

namespace mq::rt {

namespace {

constexpr float kScale = 0.02f;
constexpr uint64_t kChunk = 1 << 16;  // values per random stream: the unit of determinism

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Values [begin, begin + out.size()) of tensor `stream`: an Irwin-Hall(4) approximation of
// N(0, kScale^2) from one 64-bit draw per value. Deterministic per (seed, stream, index chunk).
void random_values(uint64_t seed, uint64_t stream, uint64_t begin, std::span<float> out) {
    // Four 16-bit uniforms sum to mean 2, variance 4/12: scale to standard deviation kScale.
    const float scale = kScale * std::sqrt(3.0f) / 65536.0f;
    for (uint64_t i = 0; i < out.size();) {
        const uint64_t index = begin + i, chunk = index / kChunk;
        uint64_t state = seed * 0x100000001B3ull + stream * 0x9E3779B1ull + chunk * 0x85EBCA77ull;
        for (uint64_t skip = index % kChunk; skip; --skip) splitmix64(state);
        const uint64_t end = std::min<uint64_t>(out.size(), i + kChunk - index % kChunk);
        for (; i < end; ++i) {
            uint64_t r = splitmix64(state);
            float sum = float(r & 0xFFFF) + float((r >> 16) & 0xFFFF) + float((r >> 32) & 0xFFFF) +
                        float(r >> 48);
            out[i] = (sum - 2.0f * 65535.0f) * scale;
        }
    }
}

std::vector<std::byte> encode(gguf::TensorType type, std::span<const float> v) {
    std::vector<std::byte> out;
    switch (type) {
        case gguf::TensorType::F32:
            out.resize(v.size_bytes());
            std::memcpy(out.data(), v.data(), out.size());
            return out;
        case gguf::TensorType::F16:
        case gguf::TensorType::BF16: {
            out.resize(v.size() * 2);
            auto* h = reinterpret_cast<uint16_t*>(out.data());
            const bool f16 = type == gguf::TensorType::F16;
            for (size_t i = 0; i < v.size(); ++i)
                h[i] = f16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
            return out;
        }
        case gguf::TensorType::Q8_0:
            return gguf::quantize_q8_0(v);
        case gguf::TensorType::Q4_0:  // for comparisons with llama.cpp's most common format
            return gguf::quantize_q4_0(v);
        default:
            fail("synthetic models are written in f32, f16, bf16, q8_0 or q4_0, not {}",
                 gguf::tensor_type_name(type));
    }
}

struct MatrixSpec {
    std::string name;
    uint64_t rows, cols;
    bool linear = false;  // a routed linear (the rest: embedding, output head)
};

std::vector<MatrixSpec> matrices(const ModelDesc& d) {
    std::vector<MatrixSpec> m;
    m.push_back({"token_embd.weight", d.vocab_size, d.dim});
    const uint32_t out_dims[] = {d.q_dim(), d.kv_dim(), d.kv_dim(), d.dim,
                                 d.ffn_dim, d.ffn_dim,  d.dim};
    const uint32_t in_dims[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    for (uint32_t l = 0; l < d.n_layers; ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            m.push_back({linear_tensor_base(l, static_cast<Linear>(j)) + ".weight", out_dims[j],
                         in_dims[j], true});
    if (!d.tied_output) m.push_back({"output.weight", d.vocab_size, d.dim});
    return m;
}

// Random weights give every row of the embedding some probability: the vocabulary gets unused
// tokens up to the embedding's rows so that any sampled id decodes (to nothing).
void pad_vocabulary(gguf::Writer& w, const gguf::File& tok, uint32_t vocab) {
    std::vector<std::string> tokens = tok.get_string_array("tokenizer.ggml.tokens");
    const size_t n = tokens.size();
    if (n >= vocab) return;
    for (size_t i = n; i < vocab; ++i) tokens.push_back(fmt::format("<unused{}>", i - n));
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    if (tok.has("tokenizer.ggml.scores")) {
        std::vector<float> scores = tok.get_float_array("tokenizer.ggml.scores");
        scores.resize(vocab, -1e9f);  // never preferred by a merge
        w.set_f32_array("tokenizer.ggml.scores", scores);
    }
    std::vector<int32_t> types(n, 1);  // normal, unless the source says otherwise
    if (tok.has("tokenizer.ggml.token_type")) {
        auto given = tok.get_int_array("tokenizer.ggml.token_type");
        types.assign(given.begin(), given.end());
    }
    types.resize(vocab, 5);  // ggml's "unused"
    w.set_i32_array("tokenizer.ggml.token_type", types);
}

// A linear as MoBiSlice planes and scales (min/max per group, as a checkpoint stores them). The
// five tensors are written one after the other: the first producer slices, the last frees.
void add_sliced_linear(gguf::Writer& w, const MatrixSpec& m, uint64_t seed, uint64_t stream) {
    auto cache = std::make_shared<std::optional<quant::SlicedMatrix>>();
    auto sliced = [=]() -> const quant::SlicedMatrix& {
        if (!*cache) {
            std::vector<float> values(m.rows * m.cols);
            const uint64_t pieces = std::min<uint64_t>(m.rows, 64);
            parallel_for(pieces, [&](uint64_t p0, uint64_t p1) {
                const uint64_t a = m.rows * p0 / pieces, b = m.rows * p1 / pieces;
                random_values(seed, stream, a * m.cols,
                              std::span(values).subspan(a * m.cols, (b - a) * m.cols));
            });
            *cache = quant::slice_matrix(values, static_cast<uint32_t>(m.rows),
                                         static_cast<uint32_t>(m.cols), {.clip_steps = 0});
        }
        return **cache;
    };
    const std::string base = m.name.substr(0, m.name.size() - std::string(".weight").size());
    const uint64_t groups = (m.cols + quant::kGroupSize - 1) / quant::kGroupSize;
    const uint64_t words = groups * quant::kWordsPerGroup;
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        w.add_tensor_from(fmt::format("{}.slice{}", base, e + 1), gguf::TensorType::I32,
                          {words, m.rows}, [=](const gguf::Writer::ByteSink& sink) {
                              const auto& plane = sliced().planes[e];
                              sink(plane.data(), plane.size() * 4);
                          });
    w.add_tensor_from(base + ".scale_zero", gguf::TensorType::F16, {2, groups, m.rows},
                      [=](const gguf::Writer::ByteSink& sink) {
                          const auto& scales = sliced().scale_zero;
                          sink(scales.data(), scales.size() * 4);
                          cache->reset();
                      });
}

}  // namespace

uint64_t synthetic_model_bytes(const ModelDesc& d, gguf::TensorType type, bool sliced) {
    // Norms and biases are F32.
    uint64_t bytes = (2ull * d.n_layers + 1) * d.dim * 4;
    if (d.qkv_bias) bytes += uint64_t(d.n_layers) * (d.q_dim() + 2ull * d.kv_dim()) * 4;
    for (const MatrixSpec& m : matrices(d)) {
        const uint64_t groups = (m.cols + quant::kGroupSize - 1) / quant::kGroupSize;
        bytes += sliced && m.linear
                     ? m.rows * groups * (quant::kSlices * quant::kWordsPerGroup + 1) * 4
                     : gguf::tensor_bytes(type, m.rows * m.cols);
    }
    return bytes;
}

void write_synthetic_model(const ModelDesc& d, const SyntheticModelOptions& o,
                           const std::filesystem::path& out) {
    for (const MatrixSpec& m : matrices(d))
        if (m.cols % gguf::type_traits(o.type).block_size)
            fail("{}: rows of {} values are not whole {} blocks", m.name, m.cols,
                 gguf::tensor_type_name(o.type));
    gguf::Writer w;
    const std::string p = d.arch + ".";
    w.set_string("general.architecture", d.arch);
    w.set_string("general.name", d.name);
    w.set_u32(p + "vocab_size", d.vocab_size);
    w.set_u32(p + "context_length", d.context_length);
    w.set_u32(p + "embedding_length", d.dim);
    w.set_u32(p + "block_count", d.n_layers);
    w.set_u32(p + "feed_forward_length", d.ffn_dim);
    w.set_u32(p + "attention.head_count", d.n_heads);
    w.set_u32(p + "attention.head_count_kv", d.n_kv_heads);
    w.set_u32(p + "rope.dimension_count", d.rope_dim);
    w.set_f32(p + "rope.freq_base", d.rope_theta);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", d.rms_eps);
    if (!o.tokenizer_from.empty()) {
        gguf::File tok = gguf::File::open(o.tokenizer_from);
        if (tok.get_array_size("tokenizer.ggml.tokens") > d.vocab_size)
            fail("the tokenizer of {} has {} tokens, more than the {} rows of the embedding",
                 o.tokenizer_from.string(), tok.get_array_size("tokenizer.ggml.tokens"),
                 d.vocab_size);
        for (const auto& [key, value] : tok.metadata())
            if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
        pad_vocabulary(w, tok, d.vocab_size);
    }

    // Norms of ones and biases of zeros are small: stored as F32 values.
    std::vector<float> ones(d.dim, 1.0f);
    w.add_tensor_f32("output_norm.weight", {d.dim}, ones);
    for (uint32_t l = 0; l < d.n_layers; ++l) {
        w.add_tensor_f32(fmt::format("blk.{}.attn_norm.weight", l), {d.dim}, ones);
        w.add_tensor_f32(fmt::format("blk.{}.ffn_norm.weight", l), {d.dim}, ones);
        if (d.qkv_bias)
            for (auto [j, rows] :
                 {std::pair{Linear::Q, d.q_dim()}, std::pair{Linear::K, d.kv_dim()},
                  std::pair{Linear::V, d.kv_dim()}})
                w.add_tensor_f32(linear_tensor_base(l, j) + ".bias", {rows},
                                 std::vector<float>(rows, 0.0f));
    }
    if (o.sliced) {
        w.set_u32("mobiquant.version", kCheckpointVersion);
        std::vector<int32_t> bits(quant::kSlices, quant::kSliceBits);
        w.set_i32_array("mobiquant.slice_bits", bits);
        w.set_u32("mobiquant.group_size", quant::kGroupSize);
        w.set_string("mobiquant.calibration",
                     "synthetic: random weights sliced with min/max per group, no routers");
    }
    uint64_t stream = 0;
    for (const MatrixSpec& m : matrices(d)) {
        const uint64_t id = stream++, seed = o.seed, cols = m.cols, rows = m.rows;
        if (o.sliced && m.linear) {
            add_sliced_linear(w, m, seed, id);
            continue;
        }
        const gguf::TensorType type = o.type;
        w.add_tensor_from(m.name, type, {cols, rows}, [=](const gguf::Writer::ByteSink& sink) {
            // Blocks of whole rows, about 16M values, generated and encoded on every core.
            const uint64_t block = std::max<uint64_t>(1, (16u << 20) / cols);
            std::vector<float> values;
            for (uint64_t r = 0; r < rows; r += block) {
                const uint64_t n = std::min(block, rows - r);
                values.resize(n * cols);
                const uint64_t pieces = std::min<uint64_t>(n, 64);
                std::vector<std::vector<std::byte>> encoded(pieces);
                parallel_for(pieces, [&](uint64_t p0, uint64_t p1) {
                    for (uint64_t p = p0; p < p1; ++p) {
                        const uint64_t a = n * p / pieces, b = n * (p + 1) / pieces;
                        auto part = std::span(values).subspan(a * cols, (b - a) * cols);
                        random_values(seed, id, (r + a) * cols, part);
                        encoded[p] = encode(type, part);
                    }
                });
                for (const auto& e : encoded) sink(e.data(), e.size());
            }
        });
    }
    w.write(out, o.progress);
}

}  // namespace mq::rt
