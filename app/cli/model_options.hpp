#pragma once
// Options shared by the subcommands that run a model: which model, which device, how deep.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <optional>

#include "cli/device_options.hpp"
#include "runtime/depth_policy.hpp"
#include "runtime/generator.hpp"
#include "runtime/model_session.hpp"

namespace mq::cli {

struct ModelOptions {
    std::string model;
    DeviceOptions device;
    uint32_t context = 0;
    std::optional<float> budget;
    std::optional<int> depth;
    std::optional<double> target_tps;  // --target-tps (commands that add it)
    std::string weights = "f32";       // unquantized weights on the GPU: f32 or f16
    std::string head = "dense";        // the output head: "dense" (as --weights), "8bit" or "4bit"
    uint8_t head_depth() const { return head == "4bit" ? 2 : 4; }  // of a sliced head

    void add_to(CLI::App& cmd, bool with_depth = true);
    // --target-tps: a decode speed the budget is moved to hold (generate, chat).
    void add_speed_target_to(CLI::App& cmd);
    std::filesystem::path model_path() const;
    // Opens the model; a plain model is sliced at load when a depth or budget is asked for.
    std::unique_ptr<rt::ModelSession> open(const rt::ComputeDevice& device) const;
    rt::DepthPolicy policy() const;  // --depth, else --budget, else full depth
    // A generator under policy(), holding --target-tps when given.
    std::unique_ptr<rt::Generator> generator(rt::ModelSession& session) const;
};

}  // namespace mq::cli
