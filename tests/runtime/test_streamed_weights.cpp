// Layer-by-layer loading (ModelWeights::load_frame / load_layer, LoadedModel::rows_to_f32) gives
// exactly what the whole-model load gives.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/model_weights.hpp"
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
