// The quantize job end to end on a tiny model: the checkpoint it writes, and the inputs it
// refuses before doing any work.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "calib/quantize_job.hpp"
#include "calib/quantize_memory.hpp"
#include "calib_fixture.hpp"
#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/model_bench.hpp"
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

// Only this process's temporary files: ctest runs other test cases of this binary at the same
// time in the same fixture directory, and their jobs' temporaries carry their own pid.
bool has_temp_files(const fs::path& dir) {
    const std::string pid = std::to_string(::getpid());
    for (auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.find(".tmp-" + pid) != std::string::npos ||
            name.find(".mobiquant-slices-" + pid + "-") != std::string::npos)
            return true;
    }
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
    SUBCASE("depth weights that are not four finite non-negative numbers") {
        auto o = options_for(m, m.dir / "weights.gguf");
        o.depth_weights = {1, 1, 1};
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("4 values"),
                             mq::Error);
        o.depth_weights = {1, -1, 1, 1};
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains(">= 0"), mq::Error);
    }
    SUBCASE("a threshold refit without windows or rounds") {
        auto o = options_for(m, m.dir / "refit.gguf");
        o.refit_window = 1;
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("refit"),
                             mq::Error);
        o.refit_window = 64;
        o.refit_rounds = 0;
        CHECK_THROWS_WITH_AS(calib::check_quantize_inputs(o), doctest::Contains("refit"),
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

TEST_CASE("quantize reports every phase in order, and a cancel while writing leaves no file") {
    const auto& m = quantized_tiny_model();
    fs::path out = m.dir / "cancelled-writing.gguf";
    fs::remove(out);
    std::atomic<bool> cancel{false};
    double last = 0;
    std::vector<std::string> stages;
    auto progress = [&](const JobProgress& p) {
        CHECK(p.fraction >= last);  // never goes back
        last = p.fraction;
        if (stages.empty() || stages.back() != p.stage) stages.push_back(p.stage);
        // Some tensors written: stop there.
        if (p.stage == "writing the checkpoint" && p.fraction > 0.985) cancel = true;
    };
    CHECK_THROWS_AS(calib::quantize(options_for(m, out), progress, &cancel), mq::Cancelled);
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(has_temp_files(m.dir));
    auto seen = [&](const std::string& part) {
        return std::any_of(stages.begin(), stages.end(),
                           [&](const std::string& s) { return s.find(part) != std::string::npos; });
    };
    CHECK(seen("reading the embeddings"));
    CHECK(seen("layer 1/2: reading"));
    CHECK(seen("layer 2/2: down"));
    CHECK(seen("loss sensitivity"));
    CHECK(seen("threshold refit: round 1/1, layer 2/2"));
    CHECK(seen("writing the checkpoint"));
}

TEST_CASE("quantize memory: the estimate scales with the model and names the sizes") {
    ModelDesc d = *rt::synthetic_desc("llama-3.2-1b-32k");  // 16 layers, vocab 32000
    const auto small = calib::estimate_quantize_memory(d, 2048, false);
    // One layer at a time: well under the f32 size of the model (4.4 GB).
    CHECK(small.total() < 3'000'000'000ull);
    CHECK(small.probes == 0);
    CHECK(calib::estimate_quantize_memory(d, 4096, false).activations == 2 * small.activations);
    d.n_layers = 32;
    CHECK(calib::estimate_quantize_memory(d, 2048, false).layer == small.layer);
    CHECK(calib::estimate_quantize_memory(d, 2048, true).probes > 0);
    CHECK_NOTHROW(calib::check_quantize_memory(small, 100'000'000'000ull));
    CHECK_THROWS_WITH_AS(calib::check_quantize_memory(small, 500'000'000ull),
                         doctest::Contains("0.5 GB is available"), mq::Error);
    CHECK(calib::available_memory() > 0);
}
