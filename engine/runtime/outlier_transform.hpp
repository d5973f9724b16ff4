#pragma once
// A function-preserving transform that gives a plain model the activation outliers of large
// LLMs (the "massive activations" of LLaMA: a few fixed channels, tens of times larger than the
// rest, in every layer). For a few channels i, every RMSNorm that feeds routed linears (attention
// and feed-forward norms) has its weight g_i multiplied by c and the linears reading that norm
// (q, k, v after the attention norm; gate, up after the feed-forward norm) have column i divided
// by c. The products W x are unchanged, so full-precision logits are the same up to rounding,
// but the linears' inputs now carry channels c times larger than the rest: the regime in which
// low-bit round-to-nearest collapses (docs/design.md section 6, "Two testbeds").
//
// c should be a power of two: F32 norms and F16 matrices then scale exactly (up to F16
// subnormals), so the only change in the logits is the order of rounding in the products.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace mq::rt {

struct OutlierOptions {
    uint32_t channels = 4;  // outlier channels, the same in every layer (as in LLaMA)
    float factor = 64;      // c
};

// Channels get chosen by the largest mean |g| over all attention and feed-forward norms: the
// channels the model already amplifies. Returns them, ascending.
std::vector<uint32_t> write_outlier_model(const std::filesystem::path& in,
                                          const std::filesystem::path& out,
                                          const OutlierOptions& options);

}  // namespace mq::rt
