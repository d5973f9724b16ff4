// Weights streamed from the model file to the GPU (FileWeightSource: converted, sliced or copied
// a block of rows at a time) give exactly the logits of the same weights loaded whole into
// memory (ModelWeights), for every architecture and storage: plain fp32 and fp16, sliced at
// load, an 8-bit head, a MoBiQuant checkpoint, and synthetic files in f16, bf16 and q8_0.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "forward_test_models.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/generator.hpp"
#include "runtime/model_bench.hpp"
#include "runtime/model_session.hpp"
#include "runtime/synthetic_model.hpp"
#include "runtime/vulkan_forward.hpp"
#include "runtime/weight_source.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

namespace {

fs::path test_dir() {
    fs::path dir = fs::temp_directory_path() / "mq_test_streaming";
    fs::create_directories(dir);
    return dir;
}

// Logits of every position of a prompt, each token at its own depth (1..4 in turn) when sliced.
std::vector<float> logits_of(vk::Context& ctx, const rt::WeightSource& source,
                             const rt::ForwardOptions& options) {
    rt::VulkanForward fwd(ctx, source, options);
    const ModelDesc& d = source.desc();
    std::vector<uint32_t> ids = prompt_ids(10, d.vocab_size);
    std::vector<rt::TokenDepths> depths;
    if (fwd.quantized())
        for (uint32_t t = 0; t < ids.size(); ++t)
            depths.push_back(rt::uniform_depths(d.n_layers, static_cast<uint8_t>(t % 4 + 1)));
    return fwd.forward(ids, 0, depths, true);
}

void check_same(vk::Context& ctx, const rt::WeightSource& streamed, const rt::WeightSource& whole,
                const rt::ForwardOptions& options) {
    std::vector<float> a = logits_of(ctx, streamed, options);
    std::vector<float> b = logits_of(ctx, whole, options);
    REQUIRE(a.size() == b.size());
    CHECK(a == b);
    for (float x : a) REQUIRE(std::isfinite(x));
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "streamed upload matches the in-memory weights bit for bit") {
    for (const TinyModelSpec& spec : architectures()) {
        CAPTURE(spec.file_name());
        const LoadedModel model = LoadedModel::open(write_tiny_model(spec, test_dir()));
        const rt::ModelWeights plain = rt::ModelWeights::load(model);
        rt::ModelWeights sliced = plain;
        sliced.slice_all();
        const rt::ForwardOptions f32{.max_context = 64, .max_batch = 4};
        rt::ForwardOptions f16 = f32;
        f16.dense_format = kernels::WeightFormat::F16;
        rt::ForwardOptions head8 = f32;
        head8.head_8bit = true;

        check_same(ctx, rt::FileWeightSource(model, false), rt::ModelWeightsSource(plain), f32);
        check_same(ctx, rt::FileWeightSource(model, false), rt::ModelWeightsSource(plain), f16);
        check_same(ctx, rt::FileWeightSource(model, true), rt::ModelWeightsSource(sliced), f32);
        check_same(ctx, rt::FileWeightSource(model, true), rt::ModelWeightsSource(sliced), head8);

        // A checkpoint's planes, copied from the file, are the planes it was written from.
        fs::path ckpt = test_dir() / ("ckpt-" + spec.file_name());
        rt::save_checkpoint(sliced, model, ckpt, "streaming test");
        const LoadedModel cm = LoadedModel::open(ckpt);
        check_same(ctx, rt::FileWeightSource(cm, false), rt::ModelWeightsSource(sliced), f32);

        // Pages given back after the upload are read again from the file when touched.
        CHECK(model.to_f32(model.get("token_embd.weight")) == plain.token_embd);
    }
}

TEST_CASE("streamed upload: blocks that cross the device's binding chunks") {
    vk::ContextOptions o = validated_options();
    o.storage_range_limit = 16384;  // every matrix split into many row ranges
    vk::Context ctx(o);
    TinyModelSpec spec;
    spec.tied = false;
    const LoadedModel model = LoadedModel::open(write_tiny_model(spec, test_dir()));
    rt::ModelWeights sliced = rt::ModelWeights::load(model);
    sliced.slice_all();
    const rt::ForwardOptions fo{.max_context = 64, .max_batch = 4};
    check_same(ctx, rt::FileWeightSource(model, true), rt::ModelWeightsSource(sliced), fo);
    rt::ForwardOptions f16 = fo;
    f16.dense_format = kernels::WeightFormat::F16;
    check_same(ctx, rt::FileWeightSource(model, false),
               rt::ModelWeightsSource(rt::ModelWeights::load(model)), f16);
    CHECK(ctx.validation_message_count() == 0);
}

TEST_CASE_FIXTURE(VulkanFixture, "synth writes files that load, stream and generate") {
    ModelDesc desc = *rt::synthetic_desc("default");
    desc.n_layers = 1;
    const fs::path tokenizer = fs::path(MQ_SOURCE_DIR) / "assets/default-model.gguf";
    for (auto type : {gguf::TensorType::F16, gguf::TensorType::BF16, gguf::TensorType::Q8_0,
                      gguf::TensorType::Q4_0}) {
        const std::string type_name = gguf::tensor_type_name(type);
        CAPTURE(type_name);
        const fs::path path =
            test_dir() / fmt::format("synth-{}.gguf", gguf::tensor_type_name(type));
        uint64_t last = 0;
        rt::SyntheticModelOptions so{.type = type, .seed = 7, .tokenizer_from = tokenizer};
        so.progress = [&](uint64_t done, uint64_t total) {
            CHECK(done <= total);
            last = done;
        };
        rt::write_synthetic_model(desc, so, path);
        CHECK(last == rt::synthetic_model_bytes(desc, type));
        const LoadedModel model = LoadedModel::open(path);
        CHECK(model.desc().vocab_size == desc.vocab_size);
        CHECK(model.get("blk.0.ffn_down.weight").type == gguf::tensor_type_name(type));
        const rt::ModelWeights w = rt::ModelWeights::load(model);
        // Weights on the intended scale: N(0, 0.02^2), norms of one.
        double sum2 = 0;
        for (float x : w.layers[0][rt::Linear::Up].dense) sum2 += double(x) * x;
        CHECK(std::sqrt(sum2 / w.layers[0][rt::Linear::Up].dense.size()) ==
              doctest::Approx(0.02).epsilon(0.05));
        CHECK(w.layers[0].attn_norm == std::vector<float>(desc.dim, 1.0f));
        check_same(ctx, rt::FileWeightSource(model, false), rt::ModelWeightsSource(w),
                   {.max_context = 64, .max_batch = 4});

        rt::ModelSession session(ctx, path, {.context = 64, .slice_plain_model = true});
        CHECK(session.tokenizer().n_vocab() == int32_t(desc.vocab_size));  // padded: any id decodes
        rt::Generator gen(session, rt::DepthPolicy::uniform(2));
        std::vector<int32_t> prompt = session.tokenizer().encode("Once upon a time");
        uint32_t produced = 0;
        rt::SamplerOptions greedy;
        greedy.temperature = 0;
        gen.generate(prompt, 4, greedy, [&](const rt::TokenEvent& ev) {
            CHECK(std::isfinite(ev.logprob));
            ++produced;
        });
        CHECK(produced >= 1);  // random weights may well pick the end-of-text token early
    }
}

TEST_CASE("synth refuses a tokenizer larger than the embedding") {
    ModelDesc desc = *rt::synthetic_desc("default");
    desc.n_layers = 1;
    desc.vocab_size = 512;  // the bundled tokenizer has 4096 tokens
    rt::SyntheticModelOptions so{.tokenizer_from =
                                     fs::path(MQ_SOURCE_DIR) / "assets/default-model.gguf"};
    const fs::path path = test_dir() / "synth-small-vocab.gguf";
    CHECK_THROWS_WITH_AS(rt::write_synthetic_model(desc, so, path),
                         doctest::Contains("more than the 512 rows"), mq::Error);
    CHECK(!fs::exists(path));
}

TEST_CASE_FIXTURE(VulkanFixture, "synth --sliced writes the plain file's weights as a checkpoint") {
    ModelDesc desc = *rt::synthetic_desc("default");
    desc.n_layers = 1;
    rt::SyntheticModelOptions so{
        .type = gguf::TensorType::F32,
        .seed = 3,
        .tokenizer_from = fs::path(MQ_SOURCE_DIR) / "assets/default-model.gguf"};
    const fs::path plain_path = test_dir() / "synth-plain-f32.gguf";
    rt::write_synthetic_model(desc, so, plain_path);
    so.sliced = true;
    const fs::path ckpt_path = test_dir() / "synth-sliced.gguf";
    rt::write_synthetic_model(desc, so, ckpt_path);
    CHECK(fs::file_size(ckpt_path) < fs::file_size(plain_path));

    rt::ModelWeights expected = rt::ModelWeights::load(LoadedModel::open(plain_path));
    expected.slice_all({.clip_steps = 0});
    const LoadedModel ckpt = LoadedModel::open(ckpt_path);
    CHECK(ckpt.desc().mobiquant);
    const rt::ModelWeights got = rt::ModelWeights::load(ckpt);
    CHECK(!got.routers);
    for (uint32_t j = 0; j < rt::kLinearsPerLayer; ++j) {
        CAPTURE(j);
        const auto& a = *got.layers[0].linear[j].sliced;
        const auto& b = *expected.layers[0].linear[j].sliced;
        for (uint32_t e = 0; e < quant::kSlices; ++e) CHECK(a.planes[e] == b.planes[e]);
        CHECK(a.scale_zero == b.scale_zero);
    }
    check_same(ctx, rt::FileWeightSource(ckpt, false), rt::ModelWeightsSource(expected),
               {.max_context = 64, .max_batch = 4});
}
