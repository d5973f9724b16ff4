#include "runtime/model_bench.hpp"

#include <chrono>
#include <random>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "quant/mobislice.hpp"
#include "runtime/vulkan_forward.hpp"

namespace mq::rt {

namespace {

ModelDesc shape(const char* name, uint32_t vocab, uint32_t dim, uint32_t layers, uint32_t heads,
                uint32_t kv_heads, uint32_t ffn, float theta, bool tied) {
    ModelDesc d;
    d.arch = "llama";
    d.name = name;
    d.source = "synthetic";
    d.vocab_size = vocab;
    d.dim = dim;
    d.n_layers = layers;
    d.n_heads = heads;
    d.n_kv_heads = kv_heads;
    d.head_dim = dim / heads;
    d.rope_dim = d.head_dim;
    d.ffn_dim = ffn;
    d.context_length = 2048;
    d.rope_theta = theta;
    d.rope_layout = RopeLayout::Normal;
    d.tied_output = tied;
    return d;
}

void fill_random(std::vector<float>& v, uint64_t n, float scale, uint64_t seed) {
    v.resize(n);
    // Chunked so it parallelises and stays deterministic.
    constexpr uint64_t kChunk = 1 << 20;
    parallel_for((n + kChunk - 1) / kChunk, [&](uint64_t c0, uint64_t c1) {
        for (uint64_t c = c0; c < c1; ++c) {
            std::mt19937 rng(static_cast<uint32_t>(seed * 1000003 + c));
            std::normal_distribution<float> dist(0.0f, scale);
            for (uint64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) v[i] = dist(rng);
        }
    });
}

double seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::optional<ModelDesc> synthetic_desc(const std::string& name) {
    if (name == "llama-3.2-1b")
        return shape("Llama-3.2-1B (random weights)", 128256, 2048, 16, 32, 8, 8192, 500000, true);
    // Llama-3.2-1B's body with a 32000-token vocabulary and an untied head (1.1B weights: the
    // shape of the scale measurements; the real model ties a 128256-token head).
    if (name == "llama-3.2-1b-32k")
        return shape("Llama-3.2-1B body, 32k vocabulary (random weights)", 32000, 2048, 16, 32, 8,
                     8192, 500000, false);
    if (name == "qwen2.5-0.5b") {
        ModelDesc d =
            shape("Qwen2.5-0.5B (random weights)", 151936, 896, 24, 14, 2, 4864, 1e6f, true);
        d.arch = "qwen2";
        d.qkv_bias = true;
        d.rope_layout = RopeLayout::Neox;
        d.rms_eps = 1e-6f;
        return d;
    }
    if (name == "llama-3-8b")
        return shape("Llama-3-8B (random weights)", 128256, 4096, 32, 32, 8, 14336, 500000, false);
    if (name == "tinyllama-1.1b")
        return shape("TinyLlama-1.1B (random weights)", 32000, 2048, 22, 32, 4, 5632, 10000, false);
    if (name == "smollm-135m")
        return shape("SmolLM-135M (random weights)", 49152, 576, 30, 9, 3, 1536, 10000, true);
    if (name == "default")
        return shape("default model shape (random weights)", 4096, 256, 4, 8, 4, 768, 10000, true);
    return std::nullopt;
}

std::string synthetic_names() {
    return "llama-3.2-1b, llama-3.2-1b-32k, qwen2.5-0.5b, llama-3-8b, tinyllama-1.1b, smollm-135m, "
           "default";
}

ModelWeights random_weights(const ModelDesc& d, uint32_t seed,
                            const std::function<void(uint64_t, uint64_t)>& progress) {
    ModelWeights w;
    w.desc = d;
    const uint32_t rows[] = {d.q_dim(), d.kv_dim(), d.kv_dim(), d.dim, d.ffn_dim, d.ffn_dim, d.dim};
    const uint32_t cols[] = {d.dim, d.dim, d.dim, d.q_dim(), d.dim, d.dim, d.ffn_dim};
    const uint64_t head = uint64_t(d.vocab_size) * d.dim;
    uint64_t per_layer = 0;
    for (uint32_t j = 0; j < kLinearsPerLayer; ++j) per_layer += uint64_t(rows[j]) * cols[j];
    const uint64_t total = head * (d.tied_output ? 1 : 2) + per_layer * d.n_layers;
    uint64_t done = 0, s = seed;
    auto fill = [&](std::vector<float>& v, uint64_t n) {
        fill_random(v, n, 0.02f, s++);
        done += n;
        if (progress) progress(done, total);
    };
    fill(w.token_embd, head);
    w.output_norm.assign(d.dim, 1.0f);
    if (!d.tied_output) fill(w.output, head);
    w.layers.resize(d.n_layers);
    for (auto& L : w.layers) {
        L.attn_norm.assign(d.dim, 1.0f);
        L.ffn_norm.assign(d.dim, 1.0f);
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            L.linear[j].rows = rows[j];
            L.linear[j].cols = cols[j];
            fill(L.linear[j].dense, uint64_t(rows[j]) * cols[j]);
        }
    }
    return w;
}

std::vector<ModelBenchRow> bench_model(const ComputeDevice& device, ModelWeights weights,
                                       const ModelBenchOptions& o) {
    auto say = [&](const std::string& s) {
        if (o.progress) o.progress(s);
    };
    const ModelDesc& d = weights.desc;
    ForwardOptions fo;
    fo.max_context = std::min<uint32_t>(d.context_length ? d.context_length : 2048,
                                        o.prefill_tokens + o.decode_tokens + 1);
    fo.max_context = (fo.max_context + 63) / 64 * 64;
    fo.max_batch = std::min(o.prefill_tokens, 64u);
    std::vector<uint32_t> prompt(o.prefill_tokens);
    for (uint32_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 7919u + 13u) % d.vocab_size;

    auto run = [&](ForwardBackend& fwd, const std::string& config, uint32_t depth) {
        ModelBenchRow row;
        row.config = config;
        TokenDepths depths =
            depth ? uniform_depths(d.n_layers, static_cast<uint8_t>(depth)) : TokenDepths{};
        std::vector<TokenDepths> pd(depth ? prompt.size() : 0, depths);
        fwd.forward(std::span(prompt).first(std::min<size_t>(prompt.size(), 4)), 0,
                    std::span(pd).first(depth ? std::min<size_t>(pd.size(), 4) : 0));  // warm-up
        // The one-token step has a plan of its own: build it before decode is timed (else the
        // first decode step's pipeline compilation dominates a short --decode run).
        fwd.forward(std::span(prompt).first(1), 0, std::span(pd).first(depth ? 1 : 0));
        std::vector<TokenDepths> one(depth ? 1 : 0, depths);
        uint32_t tok = 1;
        auto submit_count = [&] { return device.vulkan ? device.vulkan->submit_count() : 0; };
        for (uint32_t rep = 0; rep < std::max(1u, o.repeats); ++rep) {  // the prompt again
            auto t0 = std::chrono::steady_clock::now();
            fwd.forward(prompt, 0, pd);
            row.prefill_tps = std::max(row.prefill_tps, prompt.size() / seconds(t0));
            const uint64_t submits = submit_count();
            t0 = std::chrono::steady_clock::now();
            for (uint32_t i = 0; i < o.decode_tokens; ++i)
                fwd.forward(std::span<const uint32_t>(&tok, 1),
                            static_cast<uint32_t>(prompt.size()) + i, one);
            row.decode_tps = std::max(row.decode_tps, o.decode_tokens / seconds(t0));
            row.submits_per_token = double(submit_count() - submits) / o.decode_tokens;
        }
        row.weight_bytes_per_token = fwd.weight_bytes_per_token(depth);
        row.weight_gbs = row.weight_bytes_per_token * row.decode_tps / 1e9;
        return row;
    };

    std::vector<ModelBenchRow> rows;
    if (o.include_f32 && !weights.sliced()) {
        say("f32: uploading");
        auto fwd = make_forward(device, weights, fo);
        say("f32: running");
        rows.push_back(run(*fwd, "f32", 0));
    }
    if (o.include_f16 && !weights.sliced()) {
        say("f16: uploading");
        ForwardOptions f16 = fo;
        f16.dense_format = kernels::WeightFormat::F16;
        auto fwd = make_forward(device, weights, f16);
        say("f16: running");
        rows.push_back(run(*fwd, "f16", 0));
    }
    // Linear by linear, dropping each fp32 matrix once sliced (the sliced run needs only the
    // planes), so the fp32 and sliced copies never coexist in full.
    say("slicing the weights (MoBiSlice)");
    for (uint32_t l = 0; l < weights.layers.size(); ++l) {
        for (auto& lin : weights.layers[l].linear) {
            if (!lin.sliced)
                lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols, {.clip_steps = 0});
            std::vector<float>().swap(lin.dense);  // frees the memory, unlike clear()
        }
        if (o.work_progress) o.work_progress("slicing layers", l + 1, weights.layers.size());
    }
    say(o.sliced_head_8bit ? "MoBiSlice: slicing the output head (8 bits), uploading"
                           : "MoBiSlice: uploading");
    ForwardOptions sliced = fo;
    sliced.dense_format = o.sliced_dense_format;
    sliced.head_8bit = o.sliced_head_8bit;
    sliced.head_depth = o.sliced_head_depth;
    auto fwd = make_forward(device, weights, sliced);
    for (uint32_t depth = 1; depth <= 4; ++depth) {
        say(fmt::format("depth {}: running", depth));
        rows.push_back(run(*fwd, fmt::format("depth{}", depth), depth));
    }
    return rows;
}

}  // namespace mq::rt
