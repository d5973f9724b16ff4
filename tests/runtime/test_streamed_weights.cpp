// Layer-by-layer loading (ModelWeights::load_frame / load_layer, LoadedModel::rows_to_f32) gives
// exactly what the whole-model load gives.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "formats/model_summary.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/model_weights.hpp"
#include "runtime/slice_store.hpp"
#include "support/tiny_model.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

TEST_CASE("streamed weights: the frame plus every layer equals the whole-model load") {
    fs::path dir = fs::temp_directory_path() / "mq_test_streamed_weights";
    fs::create_directories(dir);
    TinyModelSpec spec;
    spec.arch = "qwen2";  // q/k/v biases too
    spec.tied = false;
    LoadedModel model = LoadedModel::open(write_tiny_model(spec, dir));
    rt::ModelWeights all = rt::ModelWeights::load(model);
    rt::ModelWeights frame = rt::ModelWeights::load_frame(model);
    CHECK(frame.token_embd.empty());
    CHECK(frame.output.empty());
    CHECK(frame.output_norm == all.output_norm);
    REQUIRE(frame.layers.size() == all.layers.size());
    for (uint32_t l = 0; l < all.layers.size(); ++l) {
        for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
            CHECK(frame.layers[l].linear[j].rows == all.layers[l].linear[j].rows);
            CHECK(frame.layers[l].linear[j].cols == all.layers[l].linear[j].cols);
            CHECK(frame.layers[l].linear[j].dense.empty());
        }
        rt::LayerWeights L = rt::ModelWeights::load_layer(model, l);
        CHECK(L.attn_norm == all.layers[l].attn_norm);
        CHECK(L.ffn_norm == all.layers[l].ffn_norm);
        for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
            CHECK(L.linear[j].dense == all.layers[l].linear[j].dense);
            CHECK(L.linear[j].bias == all.layers[l].linear[j].bias);
        }
    }
    CHECK_THROWS_AS(rt::ModelWeights::load_layer(model, spec.n_layers), Error);
}

TEST_CASE("streamed weights: rows_to_f32 gathers rows; dropped pages read back the same") {
    fs::path dir = fs::temp_directory_path() / "mq_test_streamed_weights";
    fs::create_directories(dir);
    LoadedModel model = LoadedModel::open(write_tiny_model({}, dir));
    const ModelTensor& embd = model.get("token_embd.weight");
    const std::vector<float> all = model.to_f32(embd);
    const uint64_t dim = embd.dims[0];
    const std::vector<uint32_t> rows = {5, 0, 299, 5};
    model.drop_pages(embd);
    std::vector<float> got = model.rows_to_f32(embd, rows);
    REQUIRE(got.size() == rows.size() * dim);
    for (size_t i = 0; i < rows.size(); ++i)
        for (uint64_t c = 0; c < dim; ++c) CHECK(got[i * dim + c] == all[rows[i] * dim + c]);
    const std::vector<uint32_t> outside = {300};
    CHECK_THROWS_AS(model.rows_to_f32(embd, outside), Error);
}

TEST_CASE("streamed weights: a checkpoint written from a slice store equals one from memory") {
    fs::path dir = fs::temp_directory_path() / "mq_test_streamed_weights";
    fs::create_directories(dir);
    LoadedModel model = LoadedModel::open(write_tiny_model({}, dir));
    rt::ModelWeights w = rt::ModelWeights::load(model);
    w.slice_all({.clip_steps = 2});
    rt::SliceStore store(dir, w.desc.n_layers);
    rt::ModelWeights frame = rt::ModelWeights::load_frame(model);
    for (uint32_t l = 0; l < w.desc.n_layers; ++l)
        for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j)
            store.put(l, static_cast<rt::Linear>(j), *w.layers[l].linear[j].sliced);
    const auto back = store.get(1, rt::Linear::Down);
    CHECK(back.scale_zero == w.layers[1][rt::Linear::Down].sliced->scale_zero);
    CHECK(back.planes[3] == w.layers[1][rt::Linear::Down].sliced->planes[3]);

    fs::path a = dir / "from-memory.gguf", b = dir / "from-store.gguf";
    rt::save_checkpoint(w, model, a, "note", "tiny.gguf");
    std::vector<double> fractions;
    rt::save_checkpoint(frame, store, model, b, "note", "tiny.gguf",
                        [&](double f) { fractions.push_back(f); });
    CHECK(read_text_file(a) == read_text_file(b));
    REQUIRE_FALSE(fractions.empty());
    CHECK(fractions.back() == doctest::Approx(1.0));
    CHECK(std::is_sorted(fractions.begin(), fractions.end()));
    LoadedModel reread = LoadedModel::open(b);
    CHECK(reread.gguf()->get_string("mobiquant.source_type") == "f32");

    rt::SliceStore missing(dir, w.desc.n_layers);
    CHECK_THROWS_WITH_AS(rt::save_checkpoint(frame, missing, model, dir / "no.gguf", "note"),
                         doctest::Contains("has no slices"), Error);
    CHECK_FALSE(fs::exists(dir / "no.gguf"));
}

TEST_CASE("streamed weights: `info` says what type of model a checkpoint was made from") {
    fs::path dir = fs::temp_directory_path() / "mq_test_streamed_weights";
    fs::create_directories(dir);
    LoadedModel model = LoadedModel::open(write_tiny_model({}, dir));
    rt::ModelWeights w = rt::ModelWeights::load(model);
    w.slice_all();
    fs::path out = dir / "info.gguf";
    rt::save_checkpoint(w, model, out, "note");
    const std::string text = model_info_text(LoadedModel::open(out), false);
    CHECK(text.find("(MoBiQuant checkpoint, made from an F32 model)") != std::string::npos);
}
