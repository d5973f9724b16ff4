// The calibration forward's batched ops against plain double-precision loops.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "calib/router_training.hpp"
#include "calib/rows.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "support/tiny_model.hpp"

using namespace mq;
namespace fs = std::filesystem;

TEST_CASE("rows: embeddings gathered from the file equal those of the loaded weights") {
    fs::path dir = fs::temp_directory_path() / "mq_test_calib_rows";
    fs::create_directories(dir);
    LoadedModel model = LoadedModel::open(test::write_tiny_model({}, dir));
    rt::ModelWeights w = rt::ModelWeights::load(model);
    const std::vector<uint32_t> tokens = {1, 17, 299, 17, 0};
    calib::Rows a = calib::embed_rows(w, tokens), b = calib::embed_rows(model, tokens);
    CHECK(a.n == b.n);
    CHECK(a.width == b.width);
    CHECK(a.v == b.v);
    const std::vector<uint32_t> outside = {300};
    CHECK_THROWS_AS(calib::embed_rows(model, outside), Error);
}

namespace {

calib::Rows random_rows(uint32_t n, uint32_t width, std::mt19937& rng) {
    std::normal_distribution<float> normal;
    calib::Rows x(n, width);
    for (float& v : x.v) v = normal(rng);
    return x;
}

// y[t][r] = sum_c x[t][c] w[r][c] (+ bias[r]) in double.
double reference_product(const calib::Rows& x, const std::vector<float>& w, uint32_t t,
                         uint32_t r) {
    double acc = 0;
    for (uint32_t c = 0; c < x.width; ++c) acc += double(x.row(t)[c]) * w[size_t(r) * x.width + c];
    return acc;
}

}  // namespace

TEST_CASE("rows: matmul_rows equals the double-precision product") {
    std::mt19937 rng(3);
    calib::Rows x = random_rows(37, 300, rng);
    calib::Rows wr = random_rows(53, 300, rng);
    calib::Rows y = calib::matmul_rows(x, wr.v, 53);
    REQUIRE(y.n == 37);
    REQUIRE(y.width == 53);
    double worst = 0;
    for (uint32_t t = 0; t < y.n; ++t)
        for (uint32_t r = 0; r < y.width; ++r)
            worst = std::max(worst, std::abs(y.row(t)[r] - reference_product(x, wr.v, t, r)));
    // fp32 sums of 300 unit-variance products: rounding error around 1e-5.
    CHECK(worst < 1e-4);
    CHECK_THROWS_AS(calib::matmul_rows(x, wr.v, 52), Error);
}

TEST_CASE("rows: linear_rows at mixed depths equals each token's own weights, bias added") {
    std::mt19937 rng(5);
    rt::LinearWeights lin;
    lin.rows = 24;
    lin.cols = 256;
    lin.dense = random_rows(lin.rows, lin.cols, rng).v;
    lin.bias = random_rows(1, lin.rows, rng).v;
    lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols);
    auto decoded = calib::decode_all_depths(*lin.sliced);
    REQUIRE(decoded.size() == quant::kSlices);
    for (uint32_t k = 1; k <= quant::kSlices; ++k)
        CHECK(decoded[k - 1] == lin.sliced->dequantize(k));  // same arithmetic, same bits

    calib::Rows x = random_rows(41, lin.cols, rng);
    std::vector<uint8_t> depths(x.n);
    for (uint32_t t = 0; t < x.n; ++t) depths[t] = static_cast<uint8_t>(t % 5);
    calib::Rows y = calib::linear_rows(lin, decoded, x, depths);
    calib::Rows dense = calib::linear_rows(lin, decoded, x, {});
    double worst = 0;
    for (uint32_t t = 0; t < x.n; ++t)
        for (uint32_t r = 0; r < lin.rows; ++r) {
            const auto& w = depths[t] == 0 ? lin.dense : decoded[depths[t] - 1];
            worst = std::max(worst,
                             std::abs(y.row(t)[r] - (reference_product(x, w, t, r) + lin.bias[r])));
            worst = std::max(
                worst,
                std::abs(dense.row(t)[r] - (reference_product(x, lin.dense, t, r) + lin.bias[r])));
        }
    CHECK(worst < 1e-4);
}

TEST_CASE("rows: depth_errors are the squared norms of x (W - W(k))^T") {
    std::mt19937 rng(7);
    rt::LinearWeights lin;
    lin.rows = 16;
    lin.cols = 128;
    lin.dense = random_rows(lin.rows, lin.cols, rng).v;
    lin.sliced = quant::slice_matrix(lin.dense, lin.rows, lin.cols);
    auto decoded = calib::decode_all_depths(*lin.sliced);
    calib::Rows x = random_rows(19, lin.cols, rng);
    calib::Rows err = calib::depth_errors(lin, decoded, x);
    REQUIRE(err.width == quant::kSlices);
    for (uint32_t t = 0; t < x.n; ++t)
        for (uint32_t k = 0; k < quant::kSlices; ++k) {
            double e = 0;
            for (uint32_t r = 0; r < lin.rows; ++r) {
                double d =
                    reference_product(x, lin.dense, t, r) - reference_product(x, decoded[k], t, r);
                e += d * d;
            }
            CHECK(err.row(t)[k] == doctest::Approx(e).epsilon(1e-3));
        }
}
