#pragma once
// The backward pass of the calibration forward (calib/rows.hpp) on the CPU: gradients of a loss
// on the logits with respect to every linear's output, one layer at a time in reverse order,
// recomputing each layer's forward from its stored residual input. Only the residual stream at
// the start of every layer is kept between the passes (layers x tokens x dim floats); a layer's
// intermediates live while its backward runs, and each linear's output gradient is handed to a
// callback and dropped.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "calib/rows.hpp"
#include "runtime/model_weights.hpp"

namespace mq::calib {

// Where the weights come from, one layer at a time (a big model's layers need not all be in
// memory): the description, the whole-model tensors and an accessor for layer l's weights.
struct WeightSource {
    ModelDesc desc;
    std::span<const float> token_embd;  // [vocab][dim]; unused when embed is set
    // The embeddings of some tokens as rows (a streaming source gathers them from the file).
    std::function<Rows(std::span<const uint32_t>)> embed;
    std::span<const float> output_norm;  // [dim]
    std::span<const float> output;       // [vocab][dim] (the embeddings when tied)
    std::function<const rt::LayerWeights&(uint32_t)> layer;

    // Every layer from w (which must outlive the source).
    static WeightSource of(const rt::ModelWeights& w);
};

// One layer's forward with the intermediates its backward needs.
struct LayerTrace {
    Rows h1;        // attn-normed input
    Rows q, k, v;   // after bias and RoPE (q, k)
    Rows att;       // attention output, o's input
    Rows mid;       // residual after o
    Rows h2;        // ffn-normed mid
    Rows gate, up;  // gate and up outputs (before SwiGLU)
    Rows act;       // silu(gate) * up, down's input
};

// Runs layer L on the residual stream x in place (as layer_pass with dense linears) and returns
// the intermediates.
LayerTrace traced_layer_forward(const ModelDesc& d, const rt::LayerWeights& L, Rows& x,
                                uint32_t seq_len);

// What the backward reports for each linear: its input rows and the loss gradient with respect
// to its output rows (pre-bias and post-bias are the same), and the residual stream its output
// is added to (o: the layer input, down: the residual after o; empty rows for the others).
using LinearGradientFn = std::function<void(rt::Linear linear, const Rows& input,
                                            const Rows& grad_output, const Rows& residual)>;

// Given dL/d(layer output) and the trace of the layer whose input was x_in, returns
// dL/d(layer input) and calls grad for down, up, gate, o, v, k, q in that order.
Rows layer_backward(const ModelDesc& d, const rt::LayerWeights& L, const Rows& x_in,
                    const LayerTrace& trace, const Rows& grad_out, uint32_t seq_len,
                    const LinearGradientFn& grad);

// The pieces, exposed for tests.
// y = rmsnorm(x) * weight: dL/dx from dL/dy.
Rows rmsnorm_backward(const Rows& x, std::span<const float> weight, float eps, const Rows& dy);
// rope_rows' inverse rotation applied to a gradient (in place).
void rope_backward(Rows& dx, const ModelDesc& d, uint32_t heads, uint32_t seq_len);
// attention_rows' gradients with respect to its (post-RoPE) q, k and v.
void attention_backward(const Rows& q, const Rows& k, const Rows& v, const Rows& d_out,
                        const ModelDesc& d, uint32_t seq_len, Rows& dq, Rows& dk, Rows& dv);

// The gradient the loss puts on one position's logits, given them and their softmax p
// (in place: p becomes dL/dlogits). t is the token's row. Called from several threads at once
// (for different rows).
using LogitGradientFn = std::function<void(uint32_t t, std::span<float> p)>;

// Final RMSNorm and output head on the last residual stream x, in chunks of tokens so that at
// most about max_logit_bytes of logits exist at once; returns dL/dx.
Rows head_backward(const WeightSource& w, const Rows& x, const LogitGradientFn& logit_grad,
                   size_t max_logit_bytes = size_t(256) << 20);

// The whole backward pass: a forward over tokens (sequences of seq_len rows) keeping each
// layer's input, then for every draw of logit gradients the head's backward, then the layers in
// reverse order (each recomputed once for all draws). grad(layer, draw, linear, input,
// grad_output, residual) sees every linear's output gradient, layer by layer from the last.
// step(done, total) is called before each stage (a layer's forward, the head, a layer's
// backward) and may throw to cancel.
using ModelGradientFn =
    std::function<void(uint32_t layer, uint32_t draw, rt::Linear linear, const Rows& input,
                       const Rows& grad_output, const Rows& residual)>;
void model_backward(const WeightSource& w, std::span<const uint32_t> tokens, uint32_t seq_len,
                    std::span<const LogitGradientFn> draws, const ModelGradientFn& grad,
                    const std::function<void(uint32_t, uint32_t)>& step = {});

}  // namespace mq::calib
