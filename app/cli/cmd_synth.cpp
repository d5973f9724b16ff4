// mobiquant synth: writes a random-weight GGUF with a real model's shapes (Llama-3.2-1B,
// Qwen2.5-0.5B, Llama-3-8B, ...) and the bundled model's tokenizer, for measuring load, quantize
// and generate at real sizes.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "common/bundled_assets.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "runtime/model_bench.hpp"
#include "runtime/synthetic_model.hpp"

namespace {

struct Options {
    std::string shape, out, type = "f16", tokenizer_from;
    uint32_t seed = 1;
    uint32_t layers = 0;
    bool sliced = false;
};

mq::gguf::TensorType tensor_type(const std::string& name) {
    using T = mq::gguf::TensorType;
    if (name == "f32") return T::F32;
    if (name == "bf16") return T::BF16;
    if (name == "q8_0") return T::Q8_0;
    if (name == "q4_0") return T::Q4_0;
    return T::F16;
}

int run(const Options& o) {
    auto desc = mq::rt::synthetic_desc(o.shape);
    if (!desc) mq::fail("unknown shape \"{}\"; known: {}", o.shape, mq::rt::synthetic_names());
    if (o.layers) desc->n_layers = o.layers;
    mq::rt::SyntheticModelOptions so;
    so.type = tensor_type(o.type);
    so.seed = o.seed;
    so.sliced = o.sliced;
    so.tokenizer_from = o.tokenizer_from;
    if (so.tokenizer_from.empty()) so.tokenizer_from = mq::app::default_model_path();
    const uint64_t bytes = mq::rt::synthetic_model_bytes(*desc, so.type, so.sliced);
    std::error_code ec;
    auto dir = std::filesystem::absolute(o.out).parent_path();
    auto space = std::filesystem::space(dir, ec);
    if (!ec && space.available < bytes + (64u << 20))
        mq::fail("{} needs {:.2f} GB but {} has {:.2f} GB free", o.out, bytes / 1e9, dir.string(),
                 space.available / 1e9);
    std::fprintf(stderr, "%s: %u layers, %s, %.2f GB of weights\n", desc->name.c_str(),
                 desc->n_layers, o.type.c_str(), bytes / 1e9);
    mq::ProgressBar bar("writing " + o.out, (bytes + (1u << 20) - 1) >> 20, "MiB");
    so.progress = [&](uint64_t done, uint64_t) { bar.update((done + (1u << 20) - 1) >> 20); };
    mq::rt::write_synthetic_model(*desc, so, o.out);
    bar.finish();
    return 0;
}

mq::cli::Registration reg{
    "synth", "Write a random-weight GGUF with the shapes of a real model", [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        cmd.add_option("--shape", o->shape, "Model shape: " + mq::rt::synthetic_names())
            ->required();
        cmd.add_option("-o,--output", o->out, "GGUF file to write")->required();
        cmd.add_option("--type", o->type, "Storage of the weight matrices")
            ->check(CLI::IsMember({"f16", "bf16", "q8_0", "q4_0", "f32"}))
            ->capture_default_str();
        cmd.add_option("--seed", o->seed, "Random seed")->capture_default_str();
        cmd.add_option("--layers", o->layers, "Number of layers (default: the shape's)");
        cmd.add_flag("--sliced", o->sliced,
                     "Write the linears as MoBiSlice planes (min/max, no routers): a checkpoint "
                     "that loads sliced without running quantize");
        cmd.add_option("--tokenizer-from", o->tokenizer_from,
                       "GGUF whose tokenizer is copied (default: the bundled model)");
        return [o] { return run(*o); };
    }};

}  // namespace
