#include "support/tiny_model.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/model_desc.hpp"

namespace mq::test {

namespace {

// splitmix64: a tiny integer generator whose output is the same everywhere.
struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// An approximately standard normal value from integers only: the sum of four 16-bit uniforms
// (Irwin-Hall), centred; its standard deviation is 65536 / sqrt(3).
float approx_normal(SplitMix64& rng) {
    uint64_t bits = rng.next();
    int64_t sum = 0;
    for (int i = 0; i < 4; ++i) sum += static_cast<int64_t>((bits >> (16 * i)) & 0xFFFF);
    constexpr float kInvStd = 1.7320508f / 65536.0f;  // sqrt(3) / 2^16
    return static_cast<float>(sum - 2 * 65535) * kInvStd;
}

uint64_t name_hash(const std::string& name) {
    return fnv1a64(std::as_bytes(std::span(name.data(), name.size())));
}

// n values: offset + std * N(0,1), from a stream of its own per tensor name and seed.
std::vector<float> random_values(uint64_t n, uint32_t seed, const std::string& name, float std,
                                 float offset = 0.0f) {
    SplitMix64 rng{name_hash(name) ^ (uint64_t{seed} * 0xD1B54A32D192ED03ull)};
    std::vector<float> v(n);
    for (float& x : v) {
        // volatile: keep the multiply and the add separately rounded (no FMA contraction)
        volatile float scaled = std * approx_normal(rng);
        x = offset + scaled;
    }
    return v;
}

// <unk> <s> </s>, byte tokens, "▁", letters, merged pieces (best merges first), fillers.
void write_vocabulary(gguf::Writer& w, uint32_t vocab) {
    const std::string sp = "\xE2\x96\x81";  // U+2581, SentencePiece's space
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
    std::vector<float> scores = {0, 0, 0};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        types.push_back(6);  // byte
        scores.push_back(0);
    }
    std::vector<std::string> pieces = {sp};
    for (char c : std::string("etaoinshrdlcumwfgypbvkjxqz")) pieces.push_back(std::string(1, c));
    // Every merged piece splits into two pieces listed before it.
    for (const char* m : {"_t",  "th",  "he",   "_th", "_the", "in", "er", "an", "_a", "re", "on",
                          "at",  "en",  "nd",   "_s",  "ou",   "ed", "_w", "is", "_o", "or", "ing",
                          "_in", "_an", "_and", "es",  "_h",   "_b", "_c", "_f", "_m", "_p"}) {
        std::string piece;
        for (const char* c = m; *c; ++c) piece += *c == '_' ? sp : std::string(1, *c);
        pieces.push_back(piece);
    }
    float score = -1;
    for (size_t i = 0; i < pieces.size() && tokens.size() < vocab; ++i) {
        tokens.push_back(pieces[i]);
        types.push_back(1);  // normal
        scores.push_back(score);
        score -= 1;
    }
    for (uint32_t i = 0; tokens.size() < vocab; ++i) {
        tokens.push_back(fmt::format("<unused{}>", i));
        types.push_back(5);  // unused
        scores.push_back(-1e9f);
    }
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_f32_array("tokenizer.ggml.scores", scores);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_bool("tokenizer.ggml.add_eos_token", false);
    w.set_bool("tokenizer.ggml.add_space_prefix", true);
}

}  // namespace

uint64_t fnv1a64(std::span<const std::byte> bytes) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (std::byte b : bytes) h = (h ^ static_cast<uint8_t>(b)) * 0x100000001B3ull;
    return h;
}

std::string TinyModelSpec::file_name() const {
    return fmt::format("tiny-{}-v{}-d{}-l{}-h{}-kv{}-f{}-c{}{}{}{}-s{}.gguf", arch, vocab, dim,
                       n_layers, n_heads, n_kv_heads, ffn, context, tied ? "-tied" : "",
                       qkv_bias ? "-bias" : "", llama3_rope_scaling ? "-llama3rope" : "", seed);
}

std::filesystem::path write_tiny_model(const TinyModelSpec& s, const std::filesystem::path& dir) {
    if (s.arch != "llama" && s.arch != "qwen2")
        fail("tiny model: architecture '{}' (expected llama or qwen2)", s.arch);
    if (s.vocab < 260)
        fail("tiny model: vocabulary {} is below 260 (3 specials + 256 bytes + 1)", s.vocab);
    if (s.n_heads == 0 || s.n_kv_heads == 0 || s.dim % s.n_heads != 0 ||
        s.n_heads % s.n_kv_heads != 0 || (s.dim / s.n_heads) % 2 != 0)
        fail("tiny model: dim {} / {} heads / {} kv heads do not give an even head size", s.dim,
             s.n_heads, s.n_kv_heads);
    const uint32_t head_dim = s.dim / s.n_heads, q_dim = s.dim, kv_dim = s.n_kv_heads * head_dim;
    const bool bias = s.qkv_bias || s.arch == "qwen2";
    const std::string a = s.arch + ".";

    gguf::Writer w;
    w.set_string("general.architecture", s.arch);
    w.set_string("general.name", s.file_name().substr(0, s.file_name().size() - 5));
    w.set_u32(a + "vocab_size", s.vocab);
    w.set_u32(a + "context_length", s.context);
    w.set_u32(a + "embedding_length", s.dim);
    w.set_u32(a + "block_count", s.n_layers);
    w.set_u32(a + "feed_forward_length", s.ffn);
    w.set_u32(a + "attention.head_count", s.n_heads);
    w.set_u32(a + "attention.head_count_kv", s.n_kv_heads);
    w.set_f32(a + "attention.layer_norm_rms_epsilon", s.arch == "qwen2" ? 1e-6f : 1e-5f);
    const float theta = s.arch == "qwen2" ? 1000000.0f : 10000.0f;
    w.set_f32(a + "rope.freq_base", theta);
    w.set_u32(a + "rope.dimension_count", head_dim);
    write_vocabulary(w, s.vocab);

    auto add = [&](const std::string& name, std::vector<uint64_t> dims, float std,
                   float offset = 0.0f) {
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        w.add_tensor_f32(name, dims, random_values(n, s.seed, name, std, offset));
    };
    const float embed_std = 0.15f;
    add("token_embd.weight", {s.dim, s.vocab}, embed_std);
    if (s.llama3_rope_scaling) {
        RopeScaling r;
        r.type = RopeScalingType::Llama3;
        r.factor = 8.0f;
        r.low_freq_factor = 1.0f;
        r.high_freq_factor = 4.0f;
        r.original_context = 64;
        std::vector<float> factors = llama3_rope_freq_factors(r, theta, head_dim);
        w.add_tensor_f32("rope_freqs.weight", {head_dim / 2}, factors);
    }
    add("output_norm.weight", {s.dim}, 0.1f, 1.0f);
    if (!s.tied) add("output.weight", {s.dim, s.vocab}, embed_std);
    auto linear_std = [](uint32_t in) { return 1.0f / std::sqrt(static_cast<float>(in)); };
    for (uint32_t i = 0; i < s.n_layers; ++i) {
        const std::string p = fmt::format("blk.{}.", i);
        add(p + "attn_norm.weight", {s.dim}, 0.1f, 1.0f);
        add(p + "attn_q.weight", {s.dim, q_dim}, linear_std(s.dim));
        add(p + "attn_k.weight", {s.dim, kv_dim}, linear_std(s.dim));
        add(p + "attn_v.weight", {s.dim, kv_dim}, linear_std(s.dim));
        if (bias) {
            add(p + "attn_q.bias", {q_dim}, 0.1f);
            add(p + "attn_k.bias", {kv_dim}, 0.1f);
            add(p + "attn_v.bias", {kv_dim}, 0.1f);
        }
        add(p + "attn_output.weight", {q_dim, s.dim}, linear_std(q_dim));
        add(p + "ffn_norm.weight", {s.dim}, 0.1f, 1.0f);
        add(p + "ffn_gate.weight", {s.dim, s.ffn}, linear_std(s.dim));
        add(p + "ffn_up.weight", {s.dim, s.ffn}, linear_std(s.dim));
        add(p + "ffn_down.weight", {s.ffn, s.dim}, linear_std(s.ffn));
    }
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / s.file_name();
    w.write(path);
    return path;
}

}  // namespace mq::test
