// CpuForward: loading the weights and the checks of each entry point; the step
// itself is in cpu_forward_step.cpp.
#include "runtime/cpu_forward.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"
#include "runtime/cpu_forward_step.hpp"
#include "runtime/forward_memory.hpp"
#include "runtime/router.hpp"

namespace mq::rt {

namespace {

cpu::DenseFormat dense_format_of(kernels::WeightFormat f) {
    return f == kernels::WeightFormat::F16 ? cpu::DenseFormat::F16 : cpu::DenseFormat::F32;
}

// A routed linear's planes from the source, a bounded block of rows at a time.
quant::SlicedMatrix read_sliced(const WeightSource& src, uint32_t layer, Linear l, uint32_t rows,
                                uint32_t cols) {
    quant::SlicedMatrix m;
    m.rows = rows;
    m.cols = cols;
    const uint32_t wpr = m.words_per_row(), gpr = m.groups_per_row();
    for (auto& p : m.planes) p.assign(uint64_t(rows) * wpr, 0);
    m.scale_zero.assign(uint64_t(rows) * gpr, 0);
    uint32_t block = src.sliced_block_rows(cols);
    if (block == 0) block = std::max(1u, (4u << 20) / (wpr * 4 * quant::kSlices));
    for (uint32_t r0 = 0; r0 < rows; r0 += block) {
        const uint32_t n = std::min(block, rows - r0);
        kernels::SlicedRows out;
        for (uint32_t e = 0; e < quant::kSlices; ++e)
            out.planes[e] = std::span(m.planes[e]).subspan(uint64_t(r0) * wpr, uint64_t(n) * wpr);
        out.scale_zero = std::span(m.scale_zero).subspan(uint64_t(r0) * gpr, uint64_t(n) * gpr);
        src.sliced_rows(layer, l, r0, n, out);
    }
    return m;
}

std::vector<float> read_dense(const WeightSource& src, MatrixId id) {
    const auto [rows, cols] = src.shape(id);
    std::vector<float> w(uint64_t(rows) * cols);
    src.dense_rows(id, 0, rows, w);
    return w;
}

}  // namespace

CpuForward::CpuForward(const ModelWeights& w, ForwardOptions options, unsigned threads)
    : CpuForward(ModelWeightsSource(w), std::move(options), threads) {}

CpuForward::CpuForward(const WeightSource& src, ForwardOptions options, unsigned threads)
    : desc_(src.desc()), sliced_(src.sliced()) {
    const ModelDesc& d = desc_;
    context_ = options.max_context ? options.max_context : std::min(d.context_length, 2048u);
    if (context_ == 0) context_ = 2048;
    max_batch_ = std::max(1u, options.max_batch);
    if (d.n_layers == 0 || d.n_heads == 0 || d.n_kv_heads == 0 || d.head_dim == 0 ||
        d.n_heads % d.n_kv_heads != 0)
        fail("model {} has an inconsistent description ({} heads, {} kv heads)", d.name, d.n_heads,
             d.n_kv_heads);
    // A model that cannot fit the available RAM is refused before anything is read (the
    // forward holds what VulkanForward uploads, in about the same formats).
    const uint32_t router_hidden =
        sliced_ && src.routers() ? src.routers()->routers.at(0).hidden : 0;
    const ForwardShape shape{sliced_,           context_,     max_batch_, options.dense_format,
                             options.head_8bit, router_hidden};
    check_fits(estimate_forward_memory(d, shape),
               {.device = "the CPU backend",
                .host_memory = true,
                .host_available = host_available_bytes()},
               d.name.empty() ? "the model" : d.name);
    pool_ = std::make_unique<cpu::ThreadPool>(threads);
    auto say = [&](const std::string& s) {
        if (options.progress) options.progress(s);
    };

    std::shared_ptr<const RouterSet> routers = src.routers();
    if (sliced_ && routers) {
        if (routers->routers.size() != uint64_t(d.n_layers) * kLinearsPerLayer)
            fail("{} routers for {} routed linears", routers->routers.size(),
                 d.n_layers * kLinearsPerLayer);
        routers_ = std::move(routers);
    }

    const MatrixId embedding{MatrixId::Kind::Embedding}, head{MatrixId::Kind::Output};
    const cpu::DenseFormat dense_format = dense_format_of(options.dense_format);
    say("reading the embedding");
    embedding_ = read_dense(src, embedding);
    weight_bytes_ += embedding_.size() * sizeof(float);
    if (options.head_8bit) {
        say("slicing the output head (8 bits)");
        // Min/max per group, as VulkanForward and ModelWeights::slice_head.
        std::vector<float> values = d.tied_output ? std::vector<float>{} : read_dense(src, head);
        sliced_head_ = cpu::SlicedMatrixCpu::prepare(quant::slice_matrix(
            d.tied_output ? embedding_ : values, d.vocab_size, d.dim, {.clip_steps = 0}));
        head_depth_ = static_cast<uint8_t>(check_head_depth(options.head_depth));
        weight_bytes_ += sliced_head_->bytes_read(quant::kSlices);
    } else {
        say("reading the output head");
        head_ = cpu::DenseMatrixCpu::prepare(d.tied_output ? embedding_ : read_dense(src, head),
                                             d.vocab_size, d.dim, dense_format);
        weight_bytes_ += head_->bytes();
    }
    src.release(embedding);
    src.release(head);
    output_norm_ = src.output_norm();
    const uint32_t rope_dim = d.rope_dim ? d.rope_dim : d.head_dim;
    rope_freq_ = d.rope_frequencies(rope_dim);

    layers_.resize(d.n_layers);
    for (uint32_t l = 0; l < d.n_layers; ++l) {
        say(fmt::format("{} layer {} of {}", sliced_ ? "reading the slices of" : "reading", l + 1,
                        d.n_layers));
        Layer& L = layers_[l];
        L.attn_norm = src.attn_norm(l);
        L.ffn_norm = src.ffn_norm(l);
        if (L.attn_norm.size() != d.dim || L.ffn_norm.size() != d.dim)
            fail("the norms of layer {} do not have {} values", l, d.dim);
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            const auto which = static_cast<rt::Linear>(j);
            const MatrixId id{MatrixId::Kind::Linear, l, which};
            const auto [rows, cols] = src.shape(id);
            Linear& dst = L.linear[j];
            if (sliced_) {
                dst.sliced = cpu::SlicedMatrixCpu::prepare(read_sliced(src, l, which, rows, cols));
                weight_bytes_ += dst.sliced->bytes_read(quant::kSlices);
            } else {
                dst.dense =
                    cpu::DenseMatrixCpu::prepare(read_dense(src, id), rows, cols, dense_format);
                weight_bytes_ += dst.dense->bytes();
            }
            src.release(id);
            dst.bias = src.bias(l, which);
            if (!dst.bias.empty() && dst.bias.size() != rows)
                fail("the bias of layer {} linear {} has {} values for {} rows", l,
                     linear_name(which), dst.bias.size(), rows);
            if (routers_) {
                dst.router = &routers_->at(l, which);
                if (dst.router->in != cols)
                    fail("the router of layer {} linear {} does not match the linear", l,
                         linear_name(which));
            }
        }
    }
    cache_ = KvCache(d.n_layers, context_, d.kv_dim());
    if (const char* p = std::getenv("MOBIQUANT_PROFILE"); p && *p && std::string(p) != "0")
        profile_ = std::make_unique<kernels::DispatchProfile>();
}

CpuForward::~CpuForward() {
    if (!profile_) return;
    std::string report = profile_->report();  // the GPU profile's table, for CPU time
    if (report.rfind("GPU ", 0) == 0) report.replace(0, 4, "CPU ");
    std::fputs(report.c_str(), stderr);
}

uint64_t CpuForward::weight_bytes_per_token(uint32_t depth) const {
    uint64_t bytes = sliced_head_ ? sliced_head_->bytes_read(head_depth_) : head_->bytes();
    for (const Layer& L : layers_)
        for (const Linear& lin : L.linear)
            bytes += lin.sliced ? lin.sliced->bytes_read(std::max(depth, 1u)) : lin.dense->bytes();
    return bytes;
}

std::vector<float> CpuForward::forward(std::span<const uint32_t> tokens, uint32_t start_pos,
                                       std::span<const TokenDepths> depths, bool all_logits) {
    if (sliced_ && depths.size() != tokens.size())
        fail("{} tokens but {} depth sets", tokens.size(), depths.size());
    return run(tokens, start_pos, {.given = sliced_ ? depths : std::span<const TokenDepths>{}},
               all_logits, nullptr);
}

std::vector<float> CpuForward::forward_routed(std::span<const uint32_t> tokens, uint32_t start_pos,
                                              std::span<const float> thresholds, bool all_logits,
                                              std::vector<TokenDepths>* used) {
    if (!routers_) fail("this model has no routers (not a MoBiQuant checkpoint of version 2)");
    const uint32_t n_linears = desc_.n_layers * kLinearsPerLayer;
    if (thresholds.size() != n_linears)
        fail("{} router thresholds for {} routed linears", thresholds.size(), n_linears);
    return run(tokens, start_pos, {.thresholds = thresholds.data()}, all_logits, used);
}

std::vector<float> CpuForward::run(std::span<const uint32_t> tokens, uint32_t start_pos,
                                   const DepthChoice& depths, bool all_logits,
                                   std::vector<TokenDepths>* used) {
    const uint32_t n = static_cast<uint32_t>(tokens.size());
    if (n == 0) fail("forward needs at least one token");
    if (uint64_t(start_pos) + n > context_)
        fail("{} tokens at position {} exceed the context of {} tokens", n, start_pos, context_);
    const uint64_t vocab = desc_.vocab_size;
    std::vector<float> logits((all_logits ? n : 1) * vocab);
    std::vector<KvPlace> places;
    std::vector<uint32_t> rows;
    for (uint32_t done = 0; done < n;) {
        const uint32_t batch = std::min(max_batch_, n - done);
        places.clear();
        for (uint32_t i = 0; i < batch; ++i) places.push_back({&cache_, 0, start_pos + done + i});
        rows.clear();
        const bool last = done + batch == n;
        if (all_logits)
            for (uint32_t i = 0; i < batch; ++i) rows.push_back(i);
        else if (last)
            rows.push_back(batch - 1);
        DepthChoice part = depths;
        if (!part.given.empty()) part.given = part.given.subspan(done, batch);
        run_step(tokens.subspan(done, batch), places, part, rows,
                 all_logits ? logits.data() + done * vocab : logits.data(), used);
        done += batch;
    }
    return logits;
}

void CpuForward::reserve_slots(uint32_t slots, uint32_t slot_context) {
    if (slots == 0 || slot_context == 0) fail("need at least one slot of at least one position");
    if (slots == n_slots_ && slot_context == slot_context_) return;
    slot_cache_ = KvCache();  // the old one goes before the new one is allocated
    slot_cache_ = KvCache(desc_.n_layers, slots * slot_context, desc_.kv_dim());
    n_slots_ = slots;
    slot_context_ = slot_context;
}

std::vector<float> CpuForward::forward_multi(std::span<const uint32_t> tokens,
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
        check_multi_step(d, {max_batch_, n_slots_, sliced_, routers_ != nullptr}, T,
                         positions.size(), slots.size(), depths.size(), thresholds.size());
    std::vector<KvPlace> places(T);
    for (uint32_t t = 0; t < T; ++t) {
        if (slots[t] >= n_slots_) fail("slot {} is outside 0..{}", slots[t], n_slots_ - 1);
        if (positions[t] >= slot_context_)
            fail("position {} is outside a slot's context of {}", positions[t], slot_context_);
        places[t] = {&slot_cache_, slots[t] * slot_context_, positions[t]};
    }
    for (uint32_t r : logit_rows)
        if (r >= T) fail("logit row {} of a {}-token step", r, T);
    DepthChoice choice;
    if (routed)
        choice = {.thresholds = thresholds.data(), .threshold_stride = n_linears};
    else if (sliced_)
        choice.given = depths;
    std::vector<float> logits(logit_rows.size() * uint64_t(d.vocab_size));
    run_step(tokens, places, choice, logit_rows, logits.data(), used);
    return logits;
}

}  // namespace mq::rt
