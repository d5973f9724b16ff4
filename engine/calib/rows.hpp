#pragma once
// The calibration job's CPU forward: activations of many tokens at once as row-major matrices,
// and the transformer ops on them (fp32, threads over rows). Batched for speed, so the quantizer
// can run every calibration token through a layer, quantize it and move on (layer by layer);
// the per-token ReferenceForward stays the slow double-precision oracle.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::calib {

struct Rows {
    uint32_t n = 0, width = 0;  // tokens, values per token
    std::vector<float> v;       // [n][width]

    Rows() = default;
    Rows(uint32_t n_, uint32_t width_) : n(n_), width(width_), v(size_t(n_) * width_) {}
    float* row(uint32_t t) { return v.data() + size_t(t) * width; }
    const float* row(uint32_t t) const { return v.data() + size_t(t) * width; }
};

// sum_i a[i] b[i], eight partial sums so the compiler vectorizes it.
float dot(const float* a, const float* b, uint32_t n);

// Y = X W^T, W row-major [rows][cols = X.width].
Rows matmul_rows(const Rows& x, std::span<const float> w, uint32_t rows);
// dX = dY W, W row-major [dY.width][cols]: a linear's input gradient (the backward pass).
Rows matmul_rows_untransposed(const Rows& dy, std::span<const float> w, uint32_t cols);
Rows rmsnorm_rows(const Rows& x, std::span<const float> weight, float eps);
// A linear with a depth per token (0 = dense weights); decoded holds W(1)..W(4) of a sliced
// linear ([depth-1] = [rows][cols]), made once by decode_all_depths.
std::vector<std::vector<float>> decode_all_depths(const quant::SlicedMatrix& m);
// The same into `out`, reusing its buffers (a pass over many linears then touches no new pages).
void decode_all_depths(const quant::SlicedMatrix& m, std::vector<std::vector<float>>& out);
Rows linear_rows(const rt::LinearWeights& lin, const std::vector<std::vector<float>>& decoded,
                 const Rows& x, std::span<const uint8_t> depths);
// RoPE on q or k rows ([n][heads * head_dim]); token t sits at position t % seq_len.
void rope_rows(Rows& x, const ModelDesc& d, uint32_t heads, uint32_t seq_len,
               bool inverse = false);  // inverse: rotate back (RoPE's backward pass)
// Causal grouped-query attention within each sequence of seq_len consecutive rows.
Rows attention_rows(const Rows& q, const Rows& k, const Rows& v, const ModelDesc& d,
                    uint32_t seq_len);
void swiglu_rows(Rows& gate, const Rows& up);  // gate = silu(gate) * up
void add_rows(Rows& x, const Rows& y);         // x += y

// What one linear does in a layer pass: given (layer, linear, its input rows), return its output
// rows. Lets the same pass capture statistics, quantize as it goes, or just run.
using LinearFn = std::function<Rows(uint32_t layer, rt::Linear linear, const Rows& x)>;

// Runs layer l of the model on the residual stream x (sequences of seq_len rows) in place.
void layer_pass(const rt::ModelWeights& w, uint32_t l, Rows& x, uint32_t seq_len,
                const LinearFn& linear);
// The same with layer l's weights given (a streaming job holds one layer at a time).
void layer_pass(const ModelDesc& d, const rt::LayerWeights& L, uint32_t l, Rows& x,
                uint32_t seq_len, const LinearFn& linear);

// The embeddings of tokens as a residual stream.
Rows embed_rows(const rt::ModelWeights& w, std::span<const uint32_t> tokens);
// The same read from the model file, converting only the rows of these tokens (streaming jobs
// never hold the whole embedding table).
Rows embed_rows(const LoadedModel& model, std::span<const uint32_t> tokens);

// E[x^2] per input channel of every linear of the unquantized model over the given tokens
// ([layer * 7 + linear][cols]).
std::vector<std::vector<float>> channel_mean_squares(const rt::ModelWeights& w,
                                                     std::span<const uint32_t> tokens,
                                                     uint32_t seq_len);
std::vector<float> mean_squares(const Rows& x);  // per column

}  // namespace mq::calib
