// ModelDesc and the loader: an HF directory and the equivalent GGUF describe the same model.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "formats/model_summary.hpp"
#include "tiny_model.hpp"

namespace fs = std::filesystem;
using mq::LoadedModel;
using mq::safetensors::DType;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path d =
        fs::temp_directory_path() / ("mq_test_formats_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

void check_same_model(const mq::ModelDesc& a, const mq::ModelDesc& b) {
    CHECK(a.arch == b.arch);
    CHECK(a.vocab_size == b.vocab_size);
    CHECK(a.dim == b.dim);
    CHECK(a.n_layers == b.n_layers);
    CHECK(a.n_heads == b.n_heads);
    CHECK(a.n_kv_heads == b.n_kv_heads);
    CHECK(a.head_dim == b.head_dim);
    CHECK(a.ffn_dim == b.ffn_dim);
    CHECK(a.context_length == b.context_length);
    CHECK(a.rope_dim == b.rope_dim);
    CHECK(a.rms_eps == b.rms_eps);
    CHECK(a.rope_theta == b.rope_theta);
    CHECK(a.rope_scaling.type == b.rope_scaling.type);
    CHECK(a.rope_scaling.factor == b.rope_scaling.factor);
    CHECK(a.rope_freq_factors == b.rope_freq_factors);
    CHECK(a.tied_output == b.tied_output);
    CHECK(a.qkv_bias == b.qkv_bias);
    CHECK(a.bos_id == b.bos_id);
    CHECK(a.eos_id == b.eos_id);
}

// Applies rotary position `pos` to one head vector in the given layout.
std::vector<float> rotate(std::vector<float> x, mq::RopeLayout layout, int pos, float theta) {
    const size_t d = x.size(), half = d / 2;
    for (size_t i = 0; i < half; ++i) {
        float angle = pos * std::pow(theta, -2.0f * i / d);
        size_t a = layout == mq::RopeLayout::Normal ? 2 * i : i;
        size_t b = layout == mq::RopeLayout::Normal ? 2 * i + 1 : i + half;
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        x[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
    return x;
}

}  // namespace

TEST_CASE("model: HF directories (single and sharded) and the equivalent GGUF load the same") {
    for (std::string arch : {"llama", "qwen2"}) {
        for (DType dtype : {DType::F32, DType::BF16}) {
            CAPTURE(arch);
            CAPTURE(mq::safetensors::dtype_name(dtype));
            tiny::Spec s;
            s.arch = arch;
            s.tied = arch == "qwen2";
            auto tensors = tiny::hf_tensors(s);
            fs::path dir = temp_dir("equiv");
            tiny::write_hf_dir(dir / "single", s, tensors, 1, dtype);
            tiny::write_hf_dir(dir / "sharded", s, tensors, 3, dtype);
            tiny::gguf_writer(s, tensors, dtype).write(dir / "tiny.gguf");

            LoadedModel g = LoadedModel::open(dir / "tiny.gguf");
            CHECK(g.desc().source == "gguf");
            CHECK(g.desc().rope_layout ==
                  (arch == "llama" ? mq::RopeLayout::Normal : mq::RopeLayout::Neox));
            for (const char* sub : {"single", "sharded"}) {
                CAPTURE(sub);
                LoadedModel h = LoadedModel::open(dir / sub);
                CHECK(h.desc().source == "safetensors");
                CHECK(h.desc().rope_layout == mq::RopeLayout::Neox);
                CHECK(h.desc().name == sub);
                check_same_model(h.desc(), g.desc());
                CHECK(h.desc().qkv_bias == (arch == "qwen2"));
                CHECK(h.desc().tied_output == s.tied);
                CHECK(h.parameter_count() == g.parameter_count());
                REQUIRE(h.tensors().size() == g.tensors().size());
                for (size_t i = 0; i < h.tensors().size(); ++i) {
                    const mq::ModelTensor& ht = h.tensors()[i];
                    const mq::ModelTensor& gt = g.tensors()[i];
                    CAPTURE(ht.name);
                    CHECK(ht.name == gt.name);
                    CHECK(ht.canonical);
                    CHECK(ht.dims == gt.dims);
                    CHECK(ht.ggml_type == gt.ggml_type);
                    std::vector<float> hv = h.to_f32(ht), gv = g.to_f32(gt);
                    bool permuted =
                        arch == "llama" && (ht.name.find("attn_q.") != std::string::npos ||
                                            ht.name.find("attn_k.") != std::string::npos);
                    if (permuted) {
                        uint32_t heads =
                            ht.name.find("attn_q.") != std::string::npos ? s.heads : s.kv_heads;
                        hv = mq::rope_rows_neox_to_normal(hv, ht.dims.size() > 1 ? ht.dims[0] : 1,
                                                          heads);
                    }
                    CHECK(hv == gv);
                    if (!permuted) CHECK(std::ranges::equal(h.bytes(ht), g.bytes(gt)));
                }
            }
            fs::remove_all(dir);
        }
    }
}

TEST_CASE("model: the q/k row permutation is llama.cpp's, and the two rope layouts agree") {
    // One head of size 4: HF rows [a0 a1 | b0 b1] pair (a_i, b_i); GGUF interleaves them.
    std::vector<float> rows{0, 1, 2, 3, 4, 5, 6, 7};  // 2 heads x 4 rows, row length 1
    CHECK(mq::rope_rows_neox_to_normal(rows, 1, 2) == std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7});

    // q = W x rotated half-split (HF) equals the permuted W's q rotated in pairs (GGUF llama),
    // up to the same row permutation: so the runtime must honour desc.rope_layout.
    const uint32_t head_dim = 8, in = 5;
    std::vector<float> w = tiny::pattern(head_dim * in, 3), x = tiny::pattern(in, 4);
    std::vector<float> wp = mq::rope_rows_neox_to_normal(w, in, 1);
    auto matvec = [&](const std::vector<float>& m) {
        std::vector<float> y(head_dim);
        for (uint32_t r = 0; r < head_dim; ++r)
            for (uint32_t c = 0; c < in; ++c) y[r] += m[r * in + c] * x[c];
        return y;
    };
    std::vector<float> neox = rotate(matvec(w), mq::RopeLayout::Neox, 7, 10000);
    std::vector<float> normal = rotate(matvec(wp), mq::RopeLayout::Normal, 7, 10000);
    std::vector<float> neox_permuted = mq::rope_rows_neox_to_normal(neox, 1, 1);
    for (uint32_t i = 0; i < head_dim; ++i) CHECK(normal[i] == doctest::Approx(neox_permuted[i]));
}

TEST_CASE("model: rope scaling (linear and llama3) reads the same from config.json and GGUF") {
    tiny::Spec s;
    s.rope_theta = 500000;
    s.rope_scaling = {{"rope_type", "llama3"},
                      {"factor", 8.0},
                      {"low_freq_factor", 1.0},
                      {"high_freq_factor", 4.0},
                      {"original_max_position_embeddings", 256}};
    auto tensors = tiny::hf_tensors(s);
    fs::path dir = temp_dir("rope");
    tiny::write_hf_dir(dir / "hf", s, tensors, 1);
    tiny::gguf_writer(s, tensors).write(dir / "m.gguf");
    LoadedModel h = LoadedModel::open(dir / "hf"), g = LoadedModel::open(dir / "m.gguf");
    CHECK(h.desc().rope_scaling.type == mq::RopeScalingType::Llama3);
    CHECK(h.desc().rope_scaling.original_context == 256);
    check_same_model(h.desc(), g.desc());
    const auto& f = h.desc().rope_freq_factors;
    REQUIRE(f.size() == s.head_dim() / 2);
    // theta^(-2i/8), i = 0..3, have wavelengths 2pi * {1, 26.6, 707, 18803} = {6.3, 167, 4443,
    // 118000}. With an original context of 256 the high/low wavelength bounds are 64 and 256: the
    // first is kept, the last two are divided by 8, the second is interpolated:
    // smooth = (256/167 - 1)/3, factor 1/((1 - smooth)/8 + smooth).
    CHECK(f[0] == 1.0f);
    double wavelen = 2 * M_PI * std::pow(500000.0, 2.0 / 8);
    double smooth = (256 / wavelen - 1) / 3;
    CHECK(f[1] == doctest::Approx(1 / ((1 - smooth) / 8 + smooth)));
    CHECK(f[2] == 8.0f);
    CHECK(f[3] == 8.0f);
    CHECK(g.find("rope_freqs.weight")->canonical);

    s.rope_scaling = {{"rope_type", "linear"}, {"factor", 4.0}};
    tiny::write_hf_dir(dir / "hf", s, tensors, 1);
    tiny::gguf_writer(s, tensors).write(dir / "m.gguf");
    h = LoadedModel::open(dir / "hf");
    g = LoadedModel::open(dir / "m.gguf");
    CHECK(h.desc().rope_scaling.type == mq::RopeScalingType::Linear);
    CHECK(h.desc().rope_freq_factors == std::vector<float>(4, 4.0f));
    check_same_model(h.desc(), g.desc());

    s.rope_scaling = {{"rope_type", "yarn"}, {"factor", 4.0}};
    tiny::write_hf_dir(dir / "hf", s, tensors, 1);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "hf"),
                         doctest::Contains("rope_scaling type 'yarn' is not supported"), mq::Error);
    fs::remove_all(dir);
}

TEST_CASE("model: an unsupported architecture is named, with the supported list") {
    tiny::Spec s;
    auto tensors = tiny::hf_tensors(s);
    fs::path dir = temp_dir("arch");
    tiny::write_hf_dir(dir / "hf", s, tensors, 1);
    nlohmann::json c = tiny::hf_config(s);
    c["model_type"] = "gemma";
    c["architectures"] = {"GemmaForCausalLM"};
    tiny::write_json(dir / "hf" / "config.json", c);
    CHECK_THROWS_WITH_AS(
        LoadedModel::open(dir / "hf"),
        doctest::Contains("unsupported architecture 'gemma' (supported: llama (Llama 2/3/3.x, "
                          "TinyLlama, SmolLM, Mistral without sliding window), qwen2)"),
        mq::Error);

    mq::gguf::Writer w = tiny::gguf_writer(s, tensors);
    w.set_string("general.architecture", "falcon");
    w.write(dir / "f.gguf");
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "f.gguf"),
                         doctest::Contains("unsupported architecture 'falcon' (supported: llama"),
                         mq::Error);

    // Mistral loads as llama unless it uses a sliding window.
    c = tiny::hf_config(s);
    c["model_type"] = "mistral";
    c["sliding_window"] = nullptr;
    tiny::write_json(dir / "hf" / "config.json", c);
    CHECK(LoadedModel::open(dir / "hf").desc().arch == "llama");
    c["sliding_window"] = 64;
    tiny::write_json(dir / "hf" / "config.json", c);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "hf"),
                         doctest::Contains("sliding window attention"), mq::Error);
    fs::remove_all(dir);
}

TEST_CASE("model: a tensor whose shape disagrees with the metadata is refused by name") {
    tiny::Spec s;
    auto tensors = tiny::hf_tensors(s);
    fs::path dir = temp_dir("shape");
    auto bad = tensors;
    for (auto& t : bad)
        if (t.name == "model.layers.1.mlp.up_proj.weight") {
            t.shape = {s.ffn - 1, s.dim};
            t.values.resize((s.ffn - 1) * s.dim);
        }
    tiny::write_hf_dir(dir / "hf", s, bad, 2);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "hf"),
                         doctest::Contains("tensor 'model.layers.1.mlp.up_proj.weight' has shape "
                                           "[47, 32] but the config.json implies [48, 32]"),
                         mq::Error);
    tiny::gguf_writer(s, bad).write(dir / "m.gguf");
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "m.gguf"),
                         doctest::Contains("tensor 'blk.1.ffn_up.weight' has shape [32, 47] but "
                                           "the metadata implies [32, 48]"),
                         mq::Error);

    // Missing tensors are named too (in the source's own naming).
    auto missing = tensors;
    std::erase_if(missing, [](const tiny::HfTensor& t) {
        return t.name.find(".0.mlp.down") != std::string::npos;
    });
    tiny::write_hf_dir(dir / "hf", s, missing, 1);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "hf"),
                         doctest::Contains("missing tensors: model.layers.0.mlp.down_proj.weight"),
                         mq::Error);
    tiny::gguf_writer(s, missing).write(dir / "m.gguf");
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "m.gguf"),
                         doctest::Contains("missing tensors: blk.0.ffn_down.weight"), mq::Error);
    fs::remove_all(dir);
}

TEST_CASE("model: a GGUF with mobiquant.* metadata loads and exposes it") {
    tiny::Spec s;
    auto tensors = tiny::hf_tensors(s);
    std::erase_if(tensors, [](const tiny::HfTensor& t) {
        return t.name.find("q_proj") != std::string::npos;
    });
    mq::gguf::Writer w = tiny::gguf_writer(s, tensors);
    w.set_u32("mobiquant.format_version", 1);
    std::vector<int32_t> bits{2, 2, 2, 2};
    w.set_i32_array("mobiquant.slice_bits", bits);
    std::vector<int32_t> plane(8 * 32 / 16);  // packed codes, 16 per 32-bit word
    w.add_tensor("blk.0.attn_q.slice1", mq::gguf::TensorType::I32, {plane.size()},
                 std::as_bytes(std::span<const int32_t>(plane)));
    fs::path dir = temp_dir("mobiquant");
    w.write(dir / "m.gguf");
    LoadedModel m = LoadedModel::open(dir / "m.gguf");
    CHECK(m.desc().mobiquant);
    CHECK(m.gguf()->get_int_array("mobiquant.slice_bits") == std::vector<int64_t>{2, 2, 2, 2});
    const mq::ModelTensor* t = m.find("blk.0.attn_q.slice1");
    REQUIRE(t);
    CHECK_FALSE(t->canonical);
    CHECK(t->type == "i32");
    CHECK(m.find("blk.0.attn_q.weight") == nullptr);
    fs::remove_all(dir);
}

TEST_CASE("model: missing and corrupt paths give clear errors") {
    fs::path dir = temp_dir("paths");
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "nope.gguf"), doctest::Contains("does not exist"),
                         mq::Error);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir), doctest::Contains("has no config.json"),
                         mq::Error);
    tiny::write_json(dir / "config.json", {{"model_type", "llama"}});
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir), doctest::Contains("neither model.safetensors"),
                         mq::Error);
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir / "config.json"),
                         doctest::Contains("give the directory that holds config.json"), mq::Error);
    mq::write_file_atomically(dir / "config.json", std::as_bytes(std::span("{\"a\": ", 6)));
    CHECK_THROWS_WITH_AS(LoadedModel::open(dir), doctest::Contains("config.json is not valid JSON"),
                         mq::Error);
    fs::remove_all(dir);
}

TEST_CASE("model: `info` shows architecture, sizes, parameters, tokenizer and tensors") {
    tiny::Spec s;
    s.arch = "qwen2";
    s.tied = true;
    auto tensors = tiny::hf_tensors(s);
    fs::path dir = temp_dir("info");
    tiny::write_hf_dir(dir / "hf", s, tensors, 2);
    tiny::write_json(dir / "hf" / "tokenizer_config.json",
                     {{"eos_token", "<|im_end|>"}, {"chat_template", "{{ messages }}"}});
    tiny::write_json(dir / "hf" / "tokenizer.json",
                     {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}}},
                      {"added_tokens", {{{"id", 95}, {"content", "<|im_end|>"}}}}});
    LoadedModel m = LoadedModel::open(dir / "hf");
    uint64_t params = 0;
    for (const auto& t : tensors) params += t.values.size();
    CHECK(m.parameter_count() == params);

    nlohmann::json j = mq::model_info_json(m);
    CHECK(j["architecture"] == "qwen2");
    CHECK(j["n_layers"] == 2);
    CHECK(j["n_kv_heads"] == 2);
    CHECK(j["tied_output"] == true);
    CHECK(j["qkv_bias"] == true);
    CHECK(j["rope_layout"] == "neox");
    CHECK(j["parameters"] == params);
    CHECK(j["tokenizer"]["model"] == "BPE");
    CHECK(j["tokenizer"]["vocab_size"] == 96);
    CHECK(j["tokenizer"]["eos_id"] == 2);  // config.json's id wins over the text look-up
    CHECK(j["tokenizer"]["chat_template"] == true);
    REQUIRE(j["tensors"].size() == tensors.size());
    CHECK(j["tensors"][0]["name"] == "token_embd.weight");
    CHECK(j["tensors"][0]["source_name"] == "model.embed_tokens.weight");
    CHECK(j["tensors"][0]["shape"] == std::vector<uint64_t>{s.dim, s.vocab});

    std::string text = mq::model_info_text(m);
    CHECK(text.find("architecture qwen2") != std::string::npos);
    CHECK(text.find("vocab 96, dim 32, layers 2, heads 4 (kv 2, head size 8), ffn 48") !=
          std::string::npos);
    CHECK(text.find("tokenizer    BPE, 96 tokens, bos 1, eos 2 \"<|im_end|>\"") !=
          std::string::npos);
    CHECK(text.find("blk.1.ffn_down.weight") != std::string::npos);
    CHECK(mq::model_info_text(m, false).find("blk.1.ffn_down.weight") == std::string::npos);
    fs::remove_all(dir);
}
