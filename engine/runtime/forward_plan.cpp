// The plan of one forward step (VulkanForward::build_plan): embedding, each layer's attention
// and feed-forward blocks, the output head. Every dispatch reads and writes the forward's
// resident buffers, so the plan is recorded once per step shape and resubmitted.
#include "core/error.hpp"
#include "runtime/vulkan_forward_parts.hpp"

namespace mq::rt {

using kernels::Dispatch;
using kernels::padded_width;
using kernels::Plan;
using namespace forward_detail;

// The state a plan is built with: the forward, the step's shape and the plan so far.
class VulkanForward::PlanBuilder {
  public:
    PlanBuilder(VulkanForward& f, uint32_t tokens, bool routed, bool multi)
        : f_(f), d_(f.desc_), T_(tokens), routed_(routed), multi_(multi) {}

    Plan build() {
        embed();
        for (uint32_t l = 0; l < d_.n_layers; ++l) {
            attention_block(l);
            feed_forward_block(l);
        }
        head();
        return std::move(plan_);
    }

  private:
    uint32_t dimP() const { return padded_width(d_.dim); }
    uint32_t qP() const { return padded_width(d_.q_dim()); }
    uint32_t kvP() const { return padded_width(d_.kv_dim()); }
    uint32_t ffnP() const { return padded_width(d_.ffn_dim); }

    vk::Kernel& kernel(const char* name, std::vector<uint32_t> spec, uint32_t n_bindings,
                       uint32_t push_bytes) {
        return f_.lib_->get({name, std::vector<VkDescriptorType>(n_bindings, kStorage), push_bytes,
                             std::move(spec)});
    }
    void add(vk::Kernel& k, std::vector<vk::BufferRange> bindings,
             std::initializer_list<uint32_t> push, std::array<uint32_t, 3> groups,
             const char* label) {
        Dispatch disp{&k, k.bind(bindings), {}, static_cast<uint32_t>(push.size()), groups, label};
        std::copy(push.begin(), push.end(), disp.push.begin());
        plan_.dispatches.push_back(disp);
    }
    // The step's parameters, and in forward_multi each token's position and KV region.
    std::vector<vk::BufferRange> with_step(std::vector<vk::BufferRange> b) const {
        b.push_back(vk::whole(f_.params_.device()));
        if (multi_) b.push_back(vk::whole(f_.token_slots_.device()));
        return b;
    }

    void rmsnorm(const vk::Buffer& in, const vk::Buffer& weight, const vk::Buffer& out) {
        vk::Kernel& k = kernel("rmsnorm", {d_.dim, dimP(), float_bits(d_.rms_eps)}, 3, 0);
        add(k, {vk::whole(in), vk::whole(weight), vk::whole(out)}, {}, {T_, 1, 1}, "rmsnorm");
        plan_.barrier();
    }
    void add_rows(const vk::Buffer& x, const vk::Buffer& y, uint32_t width, uint32_t stride,
                  bool broadcast) {
        vk::Kernel& k = kernel("add_rows", {width, stride, broadcast ? 1u : 0u}, 2, 4);
        add(k, {vk::whole(x), vk::whole(y)}, {T_}, {div_up(width, kWorkgroupSize), T_, 1},
            broadcast ? "bias" : "residual");
    }

    // Routers write the depths of their linears; the linears wait for them behind a barrier.
    void route(uint32_t layer, std::initializer_list<rt::Linear> which, const vk::Buffer& in,
               uint32_t width) {
        if (!routed_) return;
        const vk::StagedBuffer& thresholds = multi_ ? f_.token_thresholds_ : f_.thresholds_;
        const uint32_t stride = multi_ ? d_.n_layers * kLinearsPerLayer : 0;
        for (rt::Linear j : which) {
            const Linear& lin = f_.layers_[layer].linear[static_cast<uint32_t>(j)];
            const uint32_t index = layer * kLinearsPerLayer + static_cast<uint32_t>(j);
            vk::Kernel& k =
                kernel("router", {width, padded_width(width), f_.router_hidden_, stride}, 4, 8);
            add(k,
                {vk::whole(in), vk::whole(lin.router), vk::whole(thresholds.device()),
                 vk::whole(f_.depths_.device())},
                {index, index * f_.max_batch_}, {T_, 1, 1}, "router");
        }
        plan_.barrier();
    }
    void linear(uint32_t layer, rt::Linear which, const vk::Buffer& in, const vk::Buffer& out,
                uint32_t out_stride) {
        const Linear& lin = f_.layers_[layer].linear[static_cast<uint32_t>(which)];
        const uint32_t slot =
            (layer * kLinearsPerLayer + static_cast<uint32_t>(which)) * f_.max_batch_;
        const bool vec = T_ == 1 && !multi_;  // forward_multi: the same kernel for any batch
        kernels::MatMulOps& ops = *f_.ops_;
        if (lin.sliced) {
            kernels::DepthSource ds{vk::whole(f_.depths_.device()), slot};
            plan_.append(
                vec ? ops.mobislice_matvec(*lin.sliced, {vk::whole(in), vk::whole(out)}, ds)
                    : ops.mobislice_matmat(*lin.sliced,
                                           {vk::whole(in), T_, vk::whole(out), out_stride}, ds));
        } else {
            plan_.append(vec ? ops.dense_matvec(*lin.dense, {vk::whole(in), vk::whole(out)})
                             : ops.dense_matmat(*lin.dense,
                                                {vk::whole(in), T_, vk::whole(out), out_stride}));
        }
    }

    // Embedding lookup, chunk by chunk of the vocabulary.
    void embed() {
        const kernels::GpuDenseMatrix& e = *f_.embedding_;
        vk::Kernel& k = kernel("embed", {d_.dim, e.padded_cols, dimP()}, 3, 12);
        for (const auto& c : e.chunks)
            add(k,
                {{&e.buffer, c.row0 * e.row_bytes, c.rows * e.row_bytes},
                 vk::whole(f_.tokens_.device()),
                 vk::whole(f_.x_)},
                {T_, c.row0, c.rows}, {div_up(d_.dim, kWorkgroupSize), T_, 1}, "embed");
        plan_.barrier();
    }

    // x += o(attention(rope(q(n(x))), rope(k(n(x))), v(n(x)))), the KV cache updated.
    void attention_block(uint32_t l) {
        Layer& L = f_.layers_[l];
        const uint32_t extra = multi_ ? 1 : 0;
        rmsnorm(f_.x_, L.attn_norm, f_.h_);
        route(l, {rt::Linear::Q, rt::Linear::K, rt::Linear::V}, f_.h_, d_.dim);
        linear(l, rt::Linear::Q, f_.h_, f_.q_, qP());
        linear(l, rt::Linear::K, f_.h_, f_.k_, kvP());
        linear(l, rt::Linear::V, f_.h_, f_.v_, kvP());
        plan_.barrier();
        if (L.linear[0].has_bias) {
            add_rows(f_.q_, L.linear[0].bias, d_.q_dim(), qP(), true);
            add_rows(f_.k_, L.linear[1].bias, d_.kv_dim(), kvP(), true);
            add_rows(f_.v_, L.linear[2].bias, d_.kv_dim(), kvP(), true);
            plan_.barrier();
        }
        const uint32_t neox = d_.rope_layout == RopeLayout::Neox ? 1u : 0u;
        const char* rope = multi_ ? "rope_multi" : "rope";
        vk::Kernel& rope_q =
            kernel(rope, {d_.n_heads, d_.head_dim, d_.rope_dim, qP(), neox}, 3 + extra, 0);
        add(rope_q, with_step({vk::whole(f_.q_), vk::whole(f_.inv_freq_)}), {},
            {div_up(d_.n_heads * d_.rope_dim / 2, kWorkgroupSize), T_, 1}, "rope");
        vk::Kernel& rope_k =
            kernel(rope, {d_.n_kv_heads, d_.head_dim, d_.rope_dim, kvP(), neox}, 3 + extra, 0);
        add(rope_k, with_step({vk::whole(f_.k_), vk::whole(f_.inv_freq_)}), {},
            {div_up(d_.n_kv_heads * d_.rope_dim / 2, kWorkgroupSize), T_, 1}, "rope");
        plan_.barrier();
        const vk::Buffer& kcache = multi_ ? f_.slot_kcache_[l] : L.kcache;
        const vk::Buffer& vcache = multi_ ? f_.slot_vcache_[l] : L.vcache;
        vk::Kernel& store =
            kernel(multi_ ? "kv_store_multi" : "kv_store", {d_.kv_dim(), kvP()}, 5 + extra, 0);
        add(store,
            with_step({vk::whole(f_.k_), vk::whole(f_.v_), vk::whole(kcache), vk::whole(vcache)}),
            {}, {div_up(d_.kv_dim(), kWorkgroupSize), T_, 1}, "kv_store");
        plan_.barrier();
        vk::Kernel& att = kernel(
            multi_ ? "attention_multi" : "attention",
            {d_.n_heads, d_.n_kv_heads, d_.head_dim, qP(), multi_ ? f_.slot_context_ : f_.context_},
            5 + extra, 0);
        add(att,
            with_step({vk::whole(f_.q_), vk::whole(kcache), vk::whole(vcache), vk::whole(f_.att_)}),
            {}, {d_.n_heads, T_, 1}, "attention");
        plan_.barrier();
        route(l, {rt::Linear::O}, f_.att_, d_.q_dim());
        linear(l, rt::Linear::O, f_.att_, f_.tmp_, dimP());
        plan_.barrier();
        add_rows(f_.x_, f_.tmp_, d_.dim, dimP(), false);
        plan_.barrier();
    }

    // x += down(silu(gate(n(x))) * up(n(x))).
    void feed_forward_block(uint32_t l) {
        Layer& L = f_.layers_[l];
        rmsnorm(f_.x_, L.ffn_norm, f_.h_);
        route(l, {rt::Linear::Gate, rt::Linear::Up}, f_.h_, d_.dim);
        linear(l, rt::Linear::Gate, f_.h_, f_.gate_, ffnP());
        linear(l, rt::Linear::Up, f_.h_, f_.up_, ffnP());
        plan_.barrier();
        vk::Kernel& swiglu = kernel("swiglu", {d_.ffn_dim, ffnP()}, 2, 4);
        add(swiglu, {vk::whole(f_.gate_), vk::whole(f_.up_)}, {T_},
            {div_up(d_.ffn_dim, kWorkgroupSize), T_, 1}, "swiglu");
        plan_.barrier();
        route(l, {rt::Linear::Down}, f_.gate_, d_.ffn_dim);
        linear(l, rt::Linear::Down, f_.gate_, f_.tmp_, dimP());
        plan_.barrier();
        add_rows(f_.x_, f_.tmp_, d_.dim, dimP(), false);
        plan_.barrier();
    }

    // Final norm and the output head (8-bit slices read at depth 4, or dense).
    void head() {
        rmsnorm(f_.x_, f_.output_norm_, f_.h_);
        const bool vec = T_ == 1 && !multi_;
        const vk::BufferRange logits = vk::whole(f_.logits_.device());
        kernels::MatMulOps& ops = *f_.ops_;
        if (f_.sliced_output_) {
            kernels::DepthSource ds{vk::whole(f_.head_depths_), 0, true};
            plan_.append(
                vec ? ops.mobislice_matvec(*f_.sliced_output_, {vk::whole(f_.h_), logits}, ds)
                    : ops.mobislice_matmat(*f_.sliced_output_, {vk::whole(f_.h_), T_, logits}, ds));
        } else {
            const kernels::GpuDenseMatrix& w = f_.output_ ? *f_.output_ : *f_.embedding_;
            plan_.append(vec ? ops.dense_matvec(w, {vk::whole(f_.h_), logits})
                             : ops.dense_matmat(w, {vk::whole(f_.h_), T_, logits}));
        }
    }

    VulkanForward& f_;
    const ModelDesc& d_;
    const uint32_t T_;
    const bool routed_, multi_;
    Plan plan_;
};

Plan VulkanForward::build_plan(uint32_t tokens, bool routed, bool multi) {
    return PlanBuilder(*this, tokens, routed, multi).build();
}

}  // namespace mq::rt
