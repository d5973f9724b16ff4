// The quantize job end to end on a tiny model: the checkpoint it writes, and the inputs it
// refuses before doing any work.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>

#include "calib/quantize_job.hpp"
#include "calib_fixture.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/model_weights.hpp"
#include "runtime/router.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {
calib::QuantizeOptions options_for(const QuantizedTinyModel& m, const fs::path& out) {
    calib::QuantizeOptions o;
    o.model = m.source;
    o.out = out;
    o.calibration_text = calibration_text();
    o.tokens = 128;
    o.window = 32;
    o.router_epochs = 2;
    return o;
}

bool has_temp_files(const fs::path& dir) {
    for (auto& e : fs::directory_iterator(dir))
        if (e.path().string().find(".tmp") != std::string::npos) return true;
    return false;
}
}  // namespace

TEST_CASE("quantize writes a checkpoint with slices, a router per linear and a budget table") {
    const auto& m = quantized_tiny_model();
    LoadedModel ckpt = LoadedModel::open(m.checkpoint);
    CHECK(ckpt.desc().mobiquant);
    CHECK(ckpt.gguf()->get_uint("mobiquant.version") == 2);
    CHECK(ckpt.gguf()->get_string("mobiquant.source") == m.source.filename().string());
    CHECK(ckpt.find("blk.0.attn_q.weight") == nullptr);  // no float copy of the linears
    CHECK_FALSE(has_temp_files(m.dir));
    rt::ModelWeights w = rt::ModelWeights::load(ckpt);
    REQUIRE(w.sliced());
    REQUIRE(w.routers);
    const uint32_t n_linears = w.desc.n_layers * rt::kLinearsPerLayer;
    REQUIRE(w.routers->routers.size() == n_linears);
    CHECK(w.routers->routers[6].in == w.desc.ffn_dim);  // down reads the FFN width
    CHECK(w.routers->routers[0].hidden == 16);
    const auto& table = w.routers->table;
    CHECK(table.budgets.size() == 121);
    CHECK(table.thresholds.size() == table.budgets.size() * n_linears);
    // A router's scores fall from slice 2 to slice 4 (each slice refines 4x less), on a real input.
    std::vector<float> x(w.desc.dim, 0.5f);
    auto s = w.routers->routers[0].scores(x);
    CHECK(s[0] > s[2]);
}

TEST_CASE("quantize refuses bad input before any long work") {
    const auto& m = quantized_tiny_model();
    SUBCASE("calibration text too short for the requested tokens") {
        auto o = options_for(m, m.dir / "short.gguf");
        o.calibration_text = "too short";
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("requested"),
                             mq::Error);
    }
    SUBCASE("an output directory that does not exist") {
        auto o = options_for(m, m.dir / "no" / "such" / "dir" / "out.gguf");
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("not a directory"),
                             mq::Error);
    }
    SUBCASE("a model that is already a checkpoint") {
        auto o = options_for(m, m.dir / "again.gguf");
        o.model = m.checkpoint;
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o),
                             doctest::Contains("already a MoBiQuant checkpoint"), mq::Error);
    }
    SUBCASE("a file that is not a model") {
        fs::path junk = m.dir / "junk.gguf";
        std::FILE* f = std::fopen(junk.c_str(), "wb");
        std::fputs("not a gguf file at all", f);
        std::fclose(f);
        auto o = options_for(m, m.dir / "junk-out.gguf");
        o.model = junk;
        CHECK_THROWS_AS(calib::check_quantize_inputs(o), mq::Error);
    }
}

TEST_CASE("cancelling quantize leaves no output file and no temporary file") {
    const auto& m = quantized_tiny_model();
    fs::path out = m.dir / "cancelled.gguf";
    fs::remove(out);
    std::atomic<bool> cancel{false};
    int reports = 0;
    auto progress = [&](const JobProgress& p) {
        CHECK(p.fraction >= 0.0);
        CHECK(p.fraction <= 1.0);
        if (++reports == 3) cancel = true;  // a few linears in
    };
    CHECK_THROWS_AS(calib::quantize(options_for(m, out), progress, &cancel), mq::Cancelled);
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(has_temp_files(m.dir));
}
