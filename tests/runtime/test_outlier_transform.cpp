// The outlier transform (runtime/outlier_transform.hpp): the linears' inputs get channels c times
// larger, the logits stay those of the source model.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/outlier_transform.hpp"
#include "runtime/reference_forward.hpp"
#include "support/tiny_model.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir() {  // per process: the discrete-memory run of this binary runs beside it
    fs::path dir = fs::temp_directory_path() / ("mq_test_outliers_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}
}  // namespace

TEST_CASE("the outlier transform keeps the logits and makes c-times larger input channels") {
    fs::path dir = fresh_dir();
    fs::path src = write_tiny_model({}, dir);
    fs::path out = dir / "tiny-outliers.gguf";
    rt::OutlierOptions o;
    o.channels = 3;
    o.factor = 64;
    std::vector<uint32_t> channels = rt::write_outlier_model(src, out, o);
    REQUIRE(channels.size() == 3);

    LoadedModel a = LoadedModel::open(src), b = LoadedModel::open(out);
    CHECK(!b.desc().mobiquant);
    rt::ModelWeights wa = rt::ModelWeights::load(a), wb = rt::ModelWeights::load(b);
    rt::ReferenceForward fa(wa, 16), fb(wb, 16);
    const std::vector<uint32_t> tokens = {1, 70, 300 - 5, 12, 99, 260, 3, 41};
    auto la = fa.prefill(tokens, 0, {}), lb = fb.prefill(tokens, 0, {});
    double max_diff = 0, max_logit = 0;
    for (size_t t = 0; t < la.size(); ++t)
        for (size_t v = 0; v < la[t].size(); ++v) {
            max_diff = std::max(max_diff, double(std::fabs(la[t][v] - lb[t][v])));
            max_logit = std::max(max_logit, double(std::fabs(la[t][v])));
        }
    MESSAGE("max logit difference " << max_diff << " of logits up to " << max_logit);
    CHECK(max_diff < 1e-5 * max_logit);

    // The inputs of every reading linear (q after the attention norm, gate after the
    // feed-forward norm) carry the outlier channels 64 times larger than before.
    for (uint32_t l = 0; l < wa.desc.n_layers; ++l)
        for (rt::Linear j : {rt::Linear::Q, rt::Linear::Gate}) {
            auto xa = fa.last_linear_input(l, j), xb = fb.last_linear_input(l, j);
            for (uint32_t i = 0; i < xa.size(); ++i) {
                const bool outlier = std::count(channels.begin(), channels.end(), i) > 0;
                CHECK(xb[i] == doctest::Approx(xa[i] * (outlier ? 64.0f : 1.0f)).epsilon(1e-4));
            }
        }
    fs::remove_all(dir);
}

TEST_CASE("the outlier transform refuses checkpoints and impossible options") {
    fs::path dir = fresh_dir();
    fs::path src = write_tiny_model({}, dir);
    rt::OutlierOptions o;
    o.channels = 0;
    CHECK_THROWS_WITH_AS(rt::write_outlier_model(src, dir / "x.gguf", o),
                         doctest::Contains("--channels"), Error);
    o.channels = 2;
    o.factor = -1;
    CHECK_THROWS_WITH_AS(rt::write_outlier_model(src, dir / "x.gguf", o),
                         doctest::Contains("--factor"), Error);
    LoadedModel model = LoadedModel::open(src);
    rt::ModelWeights w = rt::ModelWeights::load(model);
    quant::SliceOptions so;
    so.clip_steps = 0;
    w.slice_all(so);
    rt::save_checkpoint(w, model, dir / "ckpt.gguf", "test");
    CHECK_THROWS_WITH_AS(rt::write_outlier_model(dir / "ckpt.gguf", dir / "x.gguf", {}),
                         doctest::Contains("checkpoint"), Error);
    CHECK(!fs::exists(dir / "x.gguf"));
    fs::remove_all(dir);
}
