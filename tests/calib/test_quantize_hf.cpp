// Quantizing a Hugging Face directory directly: the checkpoint is a GGUF llama that describes,
// tokenizes and computes like the directory (q/k rows reordered to GGUF's rope layout).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "calib/quantize_job.hpp"
#include "calib_fixture.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "formats/model_summary.hpp"
#include "formats/tiny_model.hpp"
#include "runtime/model_session.hpp"
#include "runtime/reference_forward.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace mq;
namespace fs = std::filesystem;

namespace {

// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest for U+0100...
std::string byte_token(int b) {
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        int n = 0;
        for (int x = 0; x < b; ++x)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
        cp = 256 + n;
    }
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

// A byte-level BPE tokenizer.json: the 256 byte tokens, a few merges, <s> and </s>.
nlohmann::json byte_level_tokenizer() {
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[byte_token(b)] = b;
    vocab["th"] = 258;
    vocab["the"] = 259;
    vocab["Ġthe"] = 260;
    nlohmann::json j = {
        {"added_tokens",
         {{{"id", 256}, {"content", "<s>"}, {"special", true}},
          {{"id", 257}, {"content", "</s>"}, {"special", true}}}},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"t h", "th e", "Ġ the"}}}},
    };
    return j;
}

}  // namespace

TEST_CASE("quantize a Hugging Face directory (sharded F16 safetensors) directly") {
    fs::path dir = fs::temp_directory_path() / "mq_test_quantize_hf";
    fs::remove_all(dir);
    tiny::Spec s;
    s.vocab = 270;
    s.dim = 64;
    s.heads = 4;
    s.kv_heads = 2;
    s.ffn = 96;
    s.bos = 256;
    s.eos = 257;
    auto tensors = tiny::hf_tensors(s);
    for (auto& t : tensors) {
        // Weights of a trained model's size, ~1/sqrt(in), with q and k larger so that attention
        // is sharp and depends on the rotary positions.
        const bool qk = t.name.find("q_proj") != std::string::npos ||
                        t.name.find("k_proj") != std::string::npos;
        if (t.shape.size() == 2)
            for (float& v : t.values) v *= (qk ? 4.0f : 1.0f) / std::sqrt(float(t.shape[1]));
    }
    tiny::write_hf_dir(dir / "hf", s, tensors, 2, safetensors::DType::F16);
    tiny::write_json(dir / "hf" / "tokenizer.json", byte_level_tokenizer());
    tiny::write_json(dir / "hf" / "tokenizer_config.json",
                     {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_bos_token", true}});

    calib::QuantizeOptions o;
    o.model = dir / "hf";
    o.out = dir / "hf-mobiquant.gguf";
    o.calibration_text = test::calibration_text();
    o.calibration_name = "test text";
    o.tokens = 256;
    o.window = 32;
    o.router_epochs = 2;
    calib::quantize(o);

    LoadedModel hf = LoadedModel::open(dir / "hf");
    LoadedModel ckpt = LoadedModel::open(o.out);
    const ModelDesc &a = hf.desc(), &b = ckpt.desc();
    CHECK(b.mobiquant);
    CHECK(b.arch == "llama");
    CHECK(b.vocab_size == a.vocab_size);
    CHECK(b.dim == a.dim);
    CHECK(b.n_layers == a.n_layers);
    CHECK(b.n_heads == a.n_heads);
    CHECK(b.n_kv_heads == a.n_kv_heads);
    CHECK(b.ffn_dim == a.ffn_dim);
    CHECK(b.context_length == a.context_length);
    CHECK(b.rms_eps == a.rms_eps);
    CHECK(b.rope_theta == a.rope_theta);
    CHECK(b.tied_output == a.tied_output);
    CHECK(b.bos_id == 256);
    CHECK(b.eos_id == 257);
    CHECK(b.rope_layout == RopeLayout::Normal);  // a GGUF llama: q/k rows were reordered
    CHECK(ckpt.gguf()->get_string("mobiquant.source_type") == "f16");
    CHECK(model_info_text(ckpt, false).find("made from an F16 model") != std::string::npos);

    // Same tokens for the same text.
    tok::Tokenizer th(rt::load_tokenizer_spec_of(hf)), tc(rt::load_tokenizer_spec_of(ckpt));
    CHECK(th.encode(o.calibration_text) == tc.encode(o.calibration_text));
    CHECK(th.bos() == tc.bos());

    // q/k rows in GGUF llama order: the checkpoint's 8-bit q is the directory's q reordered as
    // llama.cpp's converter does, not the directory's own order.
    rt::ModelWeights wh = rt::ModelWeights::load(hf), wc = rt::ModelWeights::load(ckpt);
    for (auto [j, heads] : {std::pair{rt::Linear::Q, a.n_heads}, {rt::Linear::K, a.n_kv_heads}}) {
        const auto& lin = wh.layers[1][j];
        const std::vector<float> reordered = rope_rows_neox_to_normal(lin.dense, lin.cols, heads);
        const std::vector<float> got = wc.layers[1][j].sliced->dequantize(4);
        // RMS differences: the scale search may clip a few weights for the sake of 2 bits, so
        // the largest 8-bit error is not a step's size, but the typical one is.
        double to_reordered = 0, to_own = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            to_reordered += double(got[i] - reordered[i]) * (got[i] - reordered[i]);
            to_own += double(got[i] - lin.dense[i]) * (got[i] - lin.dense[i]);
        }
        to_reordered = std::sqrt(to_reordered / got.size());
        to_own = std::sqrt(to_own / got.size());
        MESSAGE("8-bit q/k: RMS difference to the reordered rows "
                << to_reordered << ", to the directory's own " << to_own);
        CHECK(to_reordered < 0.005);  // measured 0.003 (8-bit steps of weights up to ~0.5)
        CHECK(to_own > 0.2);          // measured 0.47
    }

    // Same function: the checkpoint at 8 bits (depth 4) follows the directory's dense model at
    // every position (a wrong rope order would only agree at position 0).
    rt::ReferenceForward fh(wh, 16), fc(wc, 16);
    const std::vector<uint32_t> ids = {256, 72, 101, 108, 108, 111, 32, 259, 33, 10};
    double worst = 0, scale = 0;
    for (uint32_t pos = 0; pos < ids.size(); ++pos) {
        auto lh = fh.step(ids[pos], pos, {});
        auto lc = fc.step(ids[pos], pos, rt::uniform_depths(b.n_layers, 4));
        for (size_t i = 0; i < lh.size(); ++i) {
            worst = std::max(worst, double(std::abs(lh[i] - lc[i])));
            scale = std::max(scale, double(std::abs(lh[i])));
        }
    }
    // 8-bit slices of F16 weights: logits within a few percent of their range.
    CHECK(worst < 0.05 * scale);
}

TEST_CASE("quantize refuses a Hugging Face tokenizer GGUF metadata cannot state") {
    fs::path dir = fs::temp_directory_path() / "mq_test_quantize_hf_custom";
    fs::remove_all(dir);
    tiny::Spec s;
    s.vocab = 270;
    s.bos = 256;
    s.eos = 257;
    tiny::write_hf_dir(dir / "hf", s, tiny::hf_tensors(s), 1);
    nlohmann::json tj = byte_level_tokenizer();
    tj["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", "[0-9]"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    tiny::write_json(dir / "hf" / "tokenizer.json", tj);
    calib::QuantizeOptions o;
    o.model = dir / "hf";
    o.out = dir / "out.gguf";
    o.calibration_text = test::calibration_text();
    o.tokens = 64;
    o.window = 32;
    CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("convert_hf_to_gguf"),
                         Error);
    CHECK_FALSE(fs::exists(o.out));
}
