// MoBiQuant checkpoints: slice a tiny model, write it, read back the same weights. (The quantize
// job itself, with routers, is tested in tests/calib.)
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "formats/model_loader.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/model_session.hpp"
#include "runtime/reference_forward.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

TEST_CASE("slice a tiny model, write the checkpoint, and read back the same weights") {
    // Per process: this binary also runs in discrete-memory mode at the same time.
    fs::path dir = fs::temp_directory_path() / ("mq_test_checkpoint_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::path src = write_tiny_model({}, dir);
    LoadedModel model = LoadedModel::open(src);
    rt::ModelWeights w = rt::ModelWeights::load(model);

    quant::SliceOptions so;
    so.clip_steps = 4;
    w.slice_all(so);
    REQUIRE(w.sliced());
    fs::path out = dir / "tiny-mobiquant.gguf";
    rt::save_checkpoint(w, model, out, "test");
    for (auto& entry : fs::directory_iterator(dir))  // no temporary file left behind
        CHECK(entry.path().string().find(".tmp") == std::string::npos);

    LoadedModel reread = LoadedModel::open(out);
    CHECK(reread.desc().mobiquant);
    CHECK(reread.find("blk.0.attn_q.weight") == nullptr);
    // `info` reports the model's weights, not the count of packed code words.
    CHECK(reread.parameter_count() == model.parameter_count());
    rt::ModelWeights back = rt::ModelWeights::load(reread);
    REQUIRE(back.sliced());
    for (uint32_t l = 0; l < w.layers.size(); ++l)
        for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
            const auto& a = *w.layers[l].linear[j].sliced;
            const auto& b = *back.layers[l].linear[j].sliced;
            CHECK(a.scale_zero == b.scale_zero);
            for (uint32_t e = 0; e < quant::kSlices; ++e) CHECK(a.planes[e] == b.planes[e]);
        }
    // Same logits at every depth from the file as from memory.
    rt::ReferenceForward ra(w, 16), rb(back, 16);
    for (uint8_t d = 1; d <= 4; ++d) {
        auto depths = rt::uniform_depths(w.desc.n_layers, d);
        CHECK(ra.step(5, 0, depths) == rb.step(5, 0, depths));
        ra.reset();
        rb.reset();
    }
    // The tokenizer travels with it.
    CHECK(rt::load_tokenizer_spec_of(reread).tokens == rt::load_tokenizer_spec_of(model).tokens);
    fs::remove_all(dir);
}
