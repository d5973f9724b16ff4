#pragma once
// Subcommand registry. A command file does:
//   static mq::cli::Registration reg{"devices", "List Vulkan devices and their limits",
//       [](CLI::App& cmd) { auto opts = ...; cmd.add_option(...);
//                           return [opts] { ...; return 0; }; }};
// `setup` adds the options to its CLI11 subcommand and returns the function that runs it.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace mq::cli {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App&)>;

struct CommandSpec {
    std::string name, description;
    Setup setup;
};

std::vector<CommandSpec>& command_registry();

struct Registration {
    Registration(std::string name, std::string description, Setup setup) {
        command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
    }
};

}  // namespace mq::cli
