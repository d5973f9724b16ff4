#include "cli/model_options.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/bundled_assets.hpp"
#include "core/error.hpp"

namespace mq::cli {

void ModelOptions::add_to(CLI::App& cmd, bool with_depth) {
    cmd.add_option("-m,--model", model,
                   std::string("GGUF file or Hugging Face directory (default: ") +
                       app::kDefaultModelText + ")");
    device.add_to(cmd);
    cmd.add_option("--context", context,
                   "Context length in tokens (default: the model's, at most 2048)");
    cmd.add_option("--weights", weights,
                   "GPU storage of unquantized linears and the output head: f32, or f16 (half "
                   "the bytes)")
        ->check(CLI::IsMember({"f32", "f16"}))
        ->capture_default_str();
    cmd.add_option("--head", head,
                   "Storage of the output head: dense (as --weights), 8bit (MoBiSlice planes "
                   "read at depth 4: about half of f16's bytes, sliced at load) or 4bit (the "
                   "same planes read at depth 2, as llama.cpp's Q4_0 files keep their head)")
        ->check(CLI::IsMember({"dense", "8bit", "4bit"}))
        ->capture_default_str();
    if (with_depth) {
        auto* b = cmd.add_option("--budget", budget,
                                 "Target average bits over routed linears, 2.0 to 8.0 (the "
                                 "checkpoint's routers choose per token)")
                      ->check(CLI::Range(2.0, 8.0));
        cmd.add_option("--depth", depth, "Uniform depth: 1..4 slices (2/4/6/8 bits)")
            ->check(CLI::Range(1, 4))
            ->excludes(b);
    }
}

void ModelOptions::add_speed_target_to(CLI::App& cmd) {
    cmd.add_option("--target-tps", target_tps,
                   "Hold this decode speed in tokens/s: the bit budget moves from token to "
                   "token (precision drops instead of speed when the device gets busy)")
        ->check(CLI::PositiveNumber)
        ->excludes("--budget")
        ->excludes("--depth");
}

std::filesystem::path ModelOptions::model_path() const {
    std::filesystem::path p =
        model.empty() ? app::default_model_path() : std::filesystem::path(model);
    if (!std::filesystem::exists(p))
        fail("model {} not found{}", p.string(),
             model.empty() ? fmt::format(" (the default: {}; pass --model)", app::kDefaultModelText)
                           : std::string());
    return p;
}

std::unique_ptr<rt::ModelSession> ModelOptions::open(const rt::ComputeDevice& device) const {
    rt::SessionOptions so;
    so.context = context;
    so.slice_plain_model = budget.has_value() || depth.has_value() || target_tps.has_value();
    so.dense_format = weights == "f16" ? kernels::WeightFormat::F16 : kernels::WeightFormat::F32;
    so.head_8bit = head != "dense";
    so.head_depth = head_depth();
    bool tty = isatty(STDERR_FILENO);
    so.progress = [tty](const std::string& s) {
        if (tty) std::fprintf(stderr, "\r\033[K%s...", s.c_str());
    };
    auto session = std::make_unique<rt::ModelSession>(device, model_path(), so);
    if (tty) std::fprintf(stderr, "\r\033[K");
    return session;
}

rt::DepthPolicy ModelOptions::policy() const {
    if (depth) return rt::DepthPolicy::uniform(static_cast<uint8_t>(*depth));
    if (budget) return rt::DepthPolicy::budget(*budget);
    return rt::DepthPolicy::uniform(4);
}

std::unique_ptr<rt::Generator> ModelOptions::generator(rt::ModelSession& session) const {
    auto gen = std::make_unique<rt::Generator>(session, policy());
    if (target_tps) gen->set_speed_target(*target_tps);
    return gen;
}

}  // namespace mq::cli
