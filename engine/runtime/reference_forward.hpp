#pragma once
// The plain C++ reference forward pass of a LLaMA-family model: the oracle the Vulkan forward
// is tested against. Clear before fast, in the spirit of llama2.c; every op is a small function.
//
// The math, per token at position pos (x is [dim], all activations stored as float):
//   x = token_embd[token]
//   per layer:
//     h = rmsnorm(x) * attn_norm                  rmsnorm(x) = x * 1/sqrt(mean(x^2) + rms_eps)
//     q = Wq h (+bq)  [n_heads*head_dim]   k = Wk h (+bk), v = Wv h (+bv)  [n_kv_heads*head_dim]
//     rope(q), rope(k) per head: pair i rotates by angle pos * theta^(-2i/rope_dim) / factor_i
//        Normal layout (GGUF llama): pairs (x[2i], x[2i+1]);  Neox (HF, GGUF qwen2):
//        pairs (x[i], x[i + head_dim/2]).  (a, b) -> (a cos - b sin, a sin + b cos)
//     k, v appended to the KV cache at pos
//     head hq attends with kv head hq / (n_heads / n_kv_heads): scores = q.k / sqrt(head_dim)
//        over positions 0..pos, softmax (max subtracted), out = sum p_t v_t
//     x += Wo out
//     h = rmsnorm(x) * ffn_norm;   x += Wdown (silu(Wgate h) * Wup h)    silu(a) = a / (1 + e^-a)
//   logits = output_weights() rmsnorm(x) * output_norm          ([vocab])
//
// Numerics (what a faster implementation has to match, and where it may differ by rounding):
//  - every dot product (linears, q.k, p.v, the rms sum of squares) accumulates in double and is
//    rounded to float once; softmax and silu are evaluated in double and stored as float;
//  - rmsnorm multiplies x by the float 1/sqrt(mean + eps) first and then by the norm weight;
//  - rope angles, cos and sin are computed in double (pos * freq with freq =
//    pow(theta, -2i/rope_dim) / factor_i). In fp32 the angle of pair 0 (freq 1) at position p
//    is off by up to p * 6e-8 radians (2.4e-4 at p = 4000), and GLSL sin/cos are only specified
//    to 2^-11 inside [-pi, pi]: a GPU forward is best fed cos/sin tables computed on the CPU in
//    double (or reduces the angle itself) to stay within tight tolerances at long contexts;
//  - dot products sum four interleaved partial sums (i mod 4) before adding them: dense and
//    decoded MoBiSlice rows go through the same function, so equal weights give equal bits;
//  - a linear at depth 0 uses the dense weights; at depth k in 1..4 it uses the MoBiSlice
//    weights W(k) = s_k (q(k) - z'_k) decoded in float exactly as SlicedMatrix::weight().
//
// The KV cache is float, [layer][position][kv_dim]. Positions run consecutively from 0; a step
// at a position below the cached length rewinds the cache to that position (the entries past it
// are overwritten), a gap or pos >= max_context throws mq::Error.
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/model_weights.hpp"

namespace mq::rt {

class ReferenceForward {
  public:
    // `w` must outlive this object. max_context >= 1 bounds the KV cache (it may exceed the
    // model's trained context length; the caller decides).
    ReferenceForward(const ModelWeights& w, uint32_t max_context);

    // Runs one token at position pos and returns its logits [vocab]. depths: one LayerDepths
    // per layer (0 = dense, 1..4 = MoBiSlice depth); empty means dense everywhere.
    std::vector<float> step(uint32_t token, uint32_t pos, const TokenDepths& depths);
    // Runs tokens at positions start_pos.. and returns one logits vector per token. depths has
    // one entry per token, or one entry for all tokens, or is empty (dense).
    std::vector<std::vector<float>> prefill(std::span<const uint32_t> tokens, uint32_t start_pos,
                                            std::span<const TokenDepths> depths);
    void reset();  // empty KV cache

    // The input vector (after the rms norm, before the linear) that linear `l` of `layer` saw in
    // the last step: [cols] of that linear. A copy, made on request.
    std::vector<float> last_linear_input(uint32_t layer, Linear l) const;

    uint32_t cached_tokens() const { return n_cached_; }  // the next position to run
    uint32_t max_context() const { return max_context_; }
    const ModelWeights& weights() const { return w_; }

  private:
    void check_depths(const TokenDepths& depths) const;
    // y = W x (+bias) with the linear's weights at `depth`; remembers x for last_linear_input.
    void linear(uint32_t layer, Linear l, uint8_t depth, std::span<const float> x,
                std::span<float> y);

    const ModelWeights& w_;
    uint32_t max_context_;
    uint32_t n_cached_ = 0;
    std::vector<float> key_cache_, value_cache_;  // [n_layers][max_context][kv_dim]
    std::vector<double> rope_freq_;               // [rope_dim/2] theta^(-2i/rope_dim)/factor_i
    // Inputs of the last step: the q/k/v input is one vector, gate/up another (same norm).
    std::vector<std::vector<float>> attn_in_, o_in_, ffn_in_, down_in_;  // [n_layers][...]
};

}  // namespace mq::rt
