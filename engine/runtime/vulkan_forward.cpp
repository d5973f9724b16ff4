#include "runtime/vulkan_forward.hpp"

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "runtime/forward_memory.hpp"
#include "runtime/router.hpp"
#include "runtime/vulkan_forward_parts.hpp"
#include "vulkan/context.hpp"

namespace mq::rt {

using kernels::Dispatch;
using kernels::padded_width;
using kernels::Plan;
using namespace forward_detail;

struct VulkanForward::Step {
    vk::CommandSequence seq;
    // GPU timestamps cost a query per dispatch: only when a profile is being kept.
    Step(vk::Context& ctx, bool timestamps) : seq(ctx, timestamps) {}
};

VulkanForward::VulkanForward(vk::Context& ctx, const ModelWeights& w, ForwardOptions options)
    : VulkanForward(ctx, ModelWeightsSource(w), std::move(options)) {}

VulkanForward::VulkanForward(vk::Context& ctx, const WeightSource& src, ForwardOptions options)
    : ctx_(ctx), desc_(src.desc()), sliced_(src.sliced()) {
    const ModelDesc& d = desc_;
    context_ = options.max_context ? options.max_context : std::min(d.context_length, 2048u);
    if (context_ == 0) context_ = 2048;
    max_batch_ = std::max(1u, options.max_batch);
    const auto& info = ctx.info();
    if (uint64_t(context_) * 4 + 1024 > info.max_compute_shared_memory)
        fail(
            "a {}-token context needs {} bytes of shared memory for attention; {} has {}. "
            "Use a shorter context (at most {} tokens)",
            context_, uint64_t(context_) * 4 + 1024, info.name, info.max_compute_shared_memory,
            (info.max_compute_shared_memory - 1024) / 4);
    if (d.n_heads % d.n_kv_heads)
        fail("{} attention heads are not a multiple of {} kv heads", d.n_heads, d.n_kv_heads);

    std::shared_ptr<const RouterSet> routers = src.routers();
    routed_ = sliced_ && routers != nullptr;
    if (routed_) {
        router_hidden_ = routers->routers.at(0).hidden;
        if (router_hidden_ == 0 || router_hidden_ > kWorkgroupSize)
            fail("router hidden size {} is outside 1..{}", router_hidden_, kWorkgroupSize);
        if (routers->routers.size() != uint64_t(d.n_layers) * kLinearsPerLayer)
            fail("{} routers for {} routed linears", routers->routers.size(),
                 d.n_layers * kLinearsPerLayer);
    }
    const ForwardShape shape{sliced_,           context_,      max_batch_, options.dense_format,
                             options.head_8bit, router_hidden_};
    check_fits(estimate_forward_memory(d, shape), memory_limits_of(ctx),
               d.name.empty() ? "the model" : d.name);

    lib_ = std::make_unique<kernels::KernelLibrary>(ctx);
    ops_ = std::make_unique<kernels::MatMulOps>(*lib_);

    auto upload = [&](const std::vector<float>& v) {
        vk::Buffer b(ctx, v.size() * 4);
        b.upload(v.data(), v.size() * 4);
        uploaded_bytes_ += b.size();
        return b;
    };
    auto rows_of = [&](MatrixId m) -> kernels::DenseRowSource {
        return [&src, m](uint32_t row0, uint32_t n, std::span<float> out) {
            src.dense_rows(m, row0, n, out);
        };
    };
    const MatrixId embedding{MatrixId::Kind::Embedding}, head{MatrixId::Kind::Output};
    const kernels::WeightFormat dense_format = options.dense_format;
    auto say = [&](const std::string& s) {
        if (options.progress) options.progress(s);
    };
    say("uploading the embedding");
    embedding_ =
        std::make_unique<kernels::GpuDenseMatrix>(ctx, d.vocab_size, d.dim, rows_of(embedding));
    uploaded_bytes_ += embedding_->buffer.size();
    src.release(embedding);
    if (options.head_8bit) {
        say("slicing the output head (8 bits)");
        // Min/max per group, a block of rows at a time (ModelWeights::slice_head's codes).
        const uint32_t block = std::max(1u, (16u << 20) / (d.dim * 4));
        sliced_output_ = std::make_unique<kernels::GpuSlicedMatrix>(
            ctx, d.vocab_size, d.dim,
            [&](uint32_t row0, uint32_t n, const kernels::SlicedRows& out) {
                std::vector<float> values(uint64_t(n) * d.dim);
                src.dense_rows(head, row0, n, values);
                quant::SlicedMatrix m = quant::slice_matrix(values, n, d.dim, {.clip_steps = 0});
                for (uint32_t e = 0; e < quant::kSlices; ++e)
                    std::copy(m.planes[e].begin(), m.planes[e].end(), out.planes[e].begin());
                std::copy(m.scale_zero.begin(), m.scale_zero.end(), out.scale_zero.begin());
            },
            block);
        uploaded_bytes_ += sliced_output_->buffer.size();
        head_depth_ = check_head_depth(options.head_depth);
        std::vector<uint32_t> depths(max_batch_, head_depth_);
        head_depths_ = vk::Buffer(ctx, depths.size() * 4);
        head_depths_.upload(depths.data(), depths.size() * 4);
    } else if (!d.tied_output || dense_format != kernels::WeightFormat::F32) {
        // A tied head in another format gets its own copy in that format.
        say("uploading the output head");
        output_ = std::make_unique<kernels::GpuDenseMatrix>(ctx, d.vocab_size, d.dim, rows_of(head),
                                                            dense_format);
        uploaded_bytes_ += output_->buffer.size();
    }
    src.release(head);
    output_norm_ = upload(src.output_norm());

    // Rotary frequencies, computed once in double as the reference does.
    std::vector<double> freq = d.rope_frequencies(d.rope_dim);
    std::vector<float> inv_freq(freq.begin(), freq.end());
    inv_freq_ = upload(inv_freq);

    layers_.resize(d.n_layers);
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t l = 0; l < d.n_layers; ++l) {
        if (options.progress) {
            double spent =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::string left =
                l ? fmt::format(", {} left", format_duration(spent / l * (d.n_layers - l))) : "";
            say(fmt::format("{} layer {} of {}{}", sliced_ ? "slicing and uploading" : "uploading",
                            l + 1, d.n_layers, left));
        }
        Layer& L = layers_[l];
        L.attn_norm = upload(src.attn_norm(l));
        L.ffn_norm = upload(src.ffn_norm(l));
        L.kcache = vk::Buffer(ctx, uint64_t(context_) * d.kv_dim() * 4);
        L.vcache = vk::Buffer(ctx, uint64_t(context_) * d.kv_dim() * 4);
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            const auto which = static_cast<rt::Linear>(j);
            const MatrixId id{MatrixId::Kind::Linear, l, which};
            const auto [rows, cols] = src.shape(id);
            Linear& dst = L.linear[j];
            if (sliced_) {
                dst.sliced = std::make_unique<kernels::GpuSlicedMatrix>(
                    ctx, rows, cols,
                    [&src, l, which](uint32_t row0, uint32_t n, const kernels::SlicedRows& out) {
                        src.sliced_rows(l, which, row0, n, out);
                    },
                    src.sliced_block_rows(cols));
                uploaded_bytes_ += dst.sliced->buffer.size();
            } else {
                dst.dense = std::make_unique<kernels::GpuDenseMatrix>(ctx, rows, cols, rows_of(id),
                                                                      dense_format);
                uploaded_bytes_ += dst.dense->buffer.size();
            }
            src.release(id);
            if (std::vector<float> bias = src.bias(l, which); !bias.empty()) {
                if (bias.size() != rows)
                    fail("the bias of layer {} linear {} has {} values for {} rows", l,
                         linear_name(which), bias.size(), rows);
                dst.bias = upload(bias);
                dst.has_bias = true;
            }
            if (routed_) {
                const Router& r = routers->at(l, which);
                if (r.in != cols || r.hidden != router_hidden_)
                    fail("the router of layer {} linear {} does not match the linear", l,
                         linear_name(which));
                std::vector<float> packed;
                for (const auto* part : {&r.w1, &r.wa, &r.b1, &r.w2, &r.b2})
                    packed.insert(packed.end(), part->begin(), part->end());
                dst.router = upload(packed);
            }
        }
    }

    if (const char* p = std::getenv("MOBIQUANT_PROFILE"); p && *p && std::string(p) != "0")
        profile_ = std::make_unique<kernels::DispatchProfile>();

    const uint64_t T = max_batch_;
    auto activations = [&](uint32_t width) {
        vk::Buffer b(ctx, T * padded_width(width) * 4);
        b.fill_zero();  // padding columns must stay zero: the kernels read whole groups
        return b;
    };
    x_ = activations(d.dim);
    h_ = activations(d.dim);
    tmp_ = activations(d.dim);
    q_ = activations(d.q_dim());
    att_ = activations(d.q_dim());
    k_ = activations(d.kv_dim());
    v_ = activations(d.kv_dim());
    gate_ = activations(d.ffn_dim);
    up_ = activations(d.ffn_dim);
    logits_ = vk::StagedBuffer(ctx, T * d.vocab_size * 4);
    tokens_ = vk::StagedBuffer(ctx, T * 4);
    params_ = vk::StagedBuffer(ctx, 16);
    depths_ = vk::StagedBuffer(ctx, uint64_t(d.n_layers) * kLinearsPerLayer * T * 4);
    thresholds_ = vk::StagedBuffer(ctx, uint64_t(d.n_layers) * kLinearsPerLayer * 4);
}

VulkanForward::~VulkanForward() {
    if (profile_) std::fputs(profile_->report().c_str(), stderr);
}

uint64_t VulkanForward::weight_bytes_per_token(uint32_t depth) const {
    uint64_t bytes = sliced_output_ ? sliced_output_->bytes_read(head_depth_)
                                    : (output_ ? output_ : embedding_)->bytes_read();
    for (const Layer& L : layers_)
        for (const Linear& lin : L.linear)
            bytes +=
                lin.sliced ? lin.sliced->bytes_read(std::max(depth, 1u)) : lin.dense->bytes_read();
    return bytes;
}

VulkanForward::Step& VulkanForward::step_for(uint32_t tokens, bool routed, bool multi) {
    auto& steps = multi ? multi_steps_ : steps_;
    auto it = steps.find({tokens, routed});
    if (it != steps.end()) return *it->second;
    auto step = std::make_unique<Step>(ctx_, profile_ != nullptr);
    Plan plan = build_plan(tokens, routed, multi);
    // Where device memory is not mapped, the step itself carries its inputs in and its results
    // out (vulkan/staged_buffer.hpp): still one submission per step.
    vk::CommandSequence& seq = step->seq;
    seq.begin();
    tokens_.record_to_device(seq, tokens_.device().size());
    params_.record_to_device(seq, params_.device().size());
    if (multi) token_slots_.record_to_device(seq, token_slots_.device().size());
    const vk::StagedBuffer& thresholds = multi ? token_thresholds_ : thresholds_;
    if (routed)
        thresholds.record_to_device(seq, thresholds.device().size());
    else if (sliced_)
        depths_.record_to_device(seq, depths_.device().size());
    seq.barrier();
    plan.record(seq);
    seq.barrier();
    logits_.record_to_host(seq, uint64_t(tokens) * desc_.vocab_size * 4);
    if (routed) depths_.record_to_host(seq, depths_.device().size());
    seq.end();
    return *steps.emplace(std::make_pair(tokens, routed), std::move(step)).first->second;
}

void VulkanForward::write_depths(std::span<const TokenDepths> depths) {
    const ModelDesc& d = desc_;
    auto* dst = static_cast<uint32_t*>(depths_.host());
    for (uint32_t t = 0; t < depths.size(); ++t) {
        if (depths[t].size() != d.n_layers)
            fail("depths cover {} layers, the model has {}", depths[t].size(), d.n_layers);
        for (uint32_t l = 0; l < d.n_layers; ++l)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                uint8_t k = depths[t][l][j];
                if (k < 1 || k > quant::kSlices)
                    fail("depth {} for layer {} linear {} is outside 1..4", k, l,
                         linear_name(static_cast<rt::Linear>(j)));
                dst[(l * kLinearsPerLayer + j) * max_batch_ + t] = k;
            }
    }
}

void VulkanForward::read_depths(uint32_t tokens, std::vector<TokenDepths>& used) const {
    const ModelDesc& d = desc_;
    const auto* src = static_cast<const uint32_t*>(depths_.host());
    for (uint32_t t = 0; t < tokens; ++t) {
        TokenDepths td(d.n_layers);
        for (uint32_t l = 0; l < d.n_layers; ++l)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
                td[l][j] = static_cast<uint8_t>(src[(l * kLinearsPerLayer + j) * max_batch_ + t]);
        used.push_back(std::move(td));
    }
}

void VulkanForward::run_batch(std::span<const uint32_t> tokens, uint32_t pos,
                              std::span<const TokenDepths> depths, bool routed, float* logits_out,
                              bool all_logits, std::vector<TokenDepths>* used) {
    const ModelDesc& d = desc_;
    const uint32_t T = static_cast<uint32_t>(tokens.size());
    for (uint32_t t : tokens)
        if (t >= d.vocab_size) fail("token id {} is outside the vocabulary ({})", t, d.vocab_size);
    std::memcpy(tokens_.host(), tokens.data(), T * 4);
    const uint32_t params[2] = {pos, T};
    std::memcpy(params_.host(), params, sizeof(params));
    if (sliced_ && !routed) {
        if (depths.size() != T) fail("{} tokens but {} depth sets", T, depths.size());
        write_depths(depths);
    }
    Step& step = step_for(T, routed);
    step.seq.submit();
    if (routed && used) read_depths(T, *used);
    if (profile_)
        for (auto& timing : step.seq.timings()) profile_->add(timing.label, T, timing.microseconds);
    const auto* logits = static_cast<const float*>(logits_.host());
    const uint64_t vocab = d.vocab_size;
    if (all_logits)
        std::memcpy(logits_out, logits, T * vocab * 4);
    else
        std::memcpy(logits_out, logits + (T - 1) * vocab, vocab * 4);
}

std::vector<float> VulkanForward::forward(std::span<const uint32_t> tokens, uint32_t start_pos,
                                          std::span<const TokenDepths> depths, bool all_logits) {
    if (sliced_ && depths.size() != tokens.size())
        fail("{} tokens but {} depth sets", tokens.size(), depths.size());
    return run(tokens, start_pos, depths, false, all_logits, nullptr);
}

std::vector<float> VulkanForward::forward_routed(std::span<const uint32_t> tokens,
                                                 uint32_t start_pos,
                                                 std::span<const float> thresholds, bool all_logits,
                                                 std::vector<TokenDepths>* used) {
    if (!routed_) fail("this model has no routers (not a MoBiQuant checkpoint of version 2)");
    const uint32_t n_linears = desc_.n_layers * kLinearsPerLayer;
    if (thresholds.size() != n_linears)
        fail("{} router thresholds for {} routed linears", thresholds.size(), n_linears);
    std::memcpy(thresholds_.host(), thresholds.data(), n_linears * 4);
    return run(tokens, start_pos, {}, true, all_logits, used);
}

std::vector<float> VulkanForward::run(std::span<const uint32_t> tokens, uint32_t start_pos,
                                      std::span<const TokenDepths> depths, bool routed,
                                      bool all_logits, std::vector<TokenDepths>* used) {
    const uint32_t n = static_cast<uint32_t>(tokens.size());
    if (n == 0) fail("forward needs at least one token");
    if (uint64_t(start_pos) + n > context_)
        fail("{} tokens at position {} exceed the context of {} tokens", n, start_pos, context_);
    const uint32_t vocab = desc_.vocab_size;
    std::vector<float> logits(uint64_t(all_logits ? n : 1) * vocab);
    for (uint32_t done = 0; done < n;) {
        uint32_t batch = std::min(max_batch_, n - done);
        // Without all_logits every batch writes the same slot; the last one stays.
        float* out = all_logits ? logits.data() + uint64_t(done) * vocab : logits.data();
        auto dep =
            sliced_ && !routed ? depths.subspan(done, batch) : std::span<const TokenDepths>{};
        run_batch(tokens.subspan(done, batch), start_pos + done, dep, routed, out, all_logits,
                  used);
        done += batch;
    }
    return logits;
}

void VulkanForward::reserve_slots(uint32_t slots, uint32_t slot_context) {
    if (slots == 0 || slot_context == 0) fail("need at least one slot of at least one position");
    const auto& info = ctx_.info();
    if (uint64_t(slot_context) * 4 + 1024 > info.max_compute_shared_memory)
        fail("a {}-token context needs more shared memory for attention than {} has", slot_context,
             info.name);
    if (slots == n_slots_ && slot_context == slot_context_) return;
    // One region more: the scratch slot the padding tokens of forward_multi write to.
    const uint64_t bytes = uint64_t(slots + 1) * slot_context * desc_.kv_dim() * 4;
    slot_kcache_.clear();
    slot_vcache_.clear();
    multi_steps_.clear();  // recorded against the old buffers
    for (uint32_t l = 0; l < desc_.n_layers; ++l) {
        slot_kcache_.emplace_back(ctx_, bytes);
        slot_vcache_.emplace_back(ctx_, bytes);
    }
    if (!token_slots_.host()) {
        token_slots_ = vk::StagedBuffer(ctx_, uint64_t(max_batch_) * 8);
        token_thresholds_ =
            vk::StagedBuffer(ctx_, uint64_t(max_batch_) * desc_.n_layers * kLinearsPerLayer * 4);
    }
    n_slots_ = slots;
    slot_context_ = slot_context;
}

std::vector<float> VulkanForward::forward_multi(std::span<const uint32_t> tokens,
                                                std::span<const uint32_t> positions,
                                                std::span<const uint32_t> slots,
                                                std::span<const TokenDepths> depths,
                                                std::span<const float> thresholds,
                                                std::span<const uint32_t> logit_rows,
                                                std::vector<TokenDepths>* used) {
    const ModelDesc& d = desc_;
    const uint32_t T = static_cast<uint32_t>(tokens.size());
    const uint32_t n_linears = d.n_layers * kLinearsPerLayer;
    const bool routed =
        check_multi_step(d, {max_batch_, n_slots_, sliced_, routed_}, T, positions.size(),
                         slots.size(), depths.size(), thresholds.size());
    // Steps run at power-of-two sizes (each size is a plan of its own whose pipelines lavapipe
    // compiles once, seconds each): the rest are padding tokens at position 0 of the scratch
    // slot, at depth 1, whose logits nobody reads.
    uint32_t P = 1;
    while (P < T) P *= 2;
    P = std::min(P, max_batch_);
    auto* table = static_cast<uint32_t*>(token_slots_.host());
    for (uint32_t t = T; t < P; ++t) {
        table[2 * t] = n_slots_ * slot_context_;
        table[2 * t + 1] = 0;
    }
    for (uint32_t t = 0; t < T; ++t) {
        if (tokens[t] >= d.vocab_size)
            fail("token id {} is outside the vocabulary ({})", tokens[t], d.vocab_size);
        if (slots[t] >= n_slots_) fail("slot {} is outside 0..{}", slots[t], n_slots_ - 1);
        if (positions[t] >= slot_context_)
            fail("position {} is outside a slot's context of {}", positions[t], slot_context_);
        table[2 * t] = slots[t] * slot_context_;
        table[2 * t + 1] = positions[t];
    }
    for (uint32_t r : logit_rows)
        if (r >= T) fail("logit row {} of a {}-token step", r, T);
    uint32_t params[2] = {0, P};
    std::vector<uint32_t> padded_tokens(tokens.begin(), tokens.end());
    padded_tokens.resize(P, 0);
    std::memcpy(tokens_.host(), padded_tokens.data(), P * 4);
    std::memcpy(params_.host(), params, sizeof(params));
    if (routed) {
        auto* dst = static_cast<float*>(token_thresholds_.host());
        std::memcpy(dst, thresholds.data(), thresholds.size() * 4);
        std::fill(dst + thresholds.size(), dst + uint64_t(P) * n_linears,
                  std::numeric_limits<float>::infinity());  // no router score passes: depth 1
    } else if (sliced_) {
        std::vector<TokenDepths> padded(depths.begin(), depths.end());
        padded.resize(P, uniform_depths(d.n_layers, 1));
        write_depths(padded);
    }
    Step& step = step_for(P, routed, true);
    step.seq.submit();
    if (used) {
        if (routed)
            read_depths(T, *used);
        else if (sliced_)
            used->insert(used->end(), depths.begin(), depths.end());
    }
    if (profile_)
        for (auto& timing : step.seq.timings()) profile_->add(timing.label, P, timing.microseconds);
    std::vector<float> logits(logit_rows.size() * uint64_t(d.vocab_size));
    for (size_t i = 0; i < logit_rows.size(); ++i)
        std::memcpy(
            logits.data() + i * d.vocab_size,
            static_cast<const float*>(logits_.host()) + uint64_t(logit_rows[i]) * d.vocab_size,
            uint64_t(d.vocab_size) * 4);
    return logits;
}

}  // namespace mq::rt
