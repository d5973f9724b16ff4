// mobiquant: with no subcommand it opens the desktop app; otherwise runs one headless job.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "core/error.hpp"

namespace mq::cli {
std::vector<CommandSpec>& command_registry() {
    static std::vector<CommandSpec> registry;
    return registry;
}
}  // namespace mq::cli

int main(int argc, char** argv) {
    using namespace mq::cli;
    CLI::App app{
        "MoBiQuant Studio: run LLaMA-family models at elastic precision on any Vulkan GPU.\n"
        "One checkpoint holds 2/4/6/8-bit slices; a router picks each token's depth."};
    app.set_version_flag("--version", "mobiquant 0.1.0");
    app.require_subcommand(0, 1);

    auto& registry = command_registry();
    std::sort(registry.begin(), registry.end(),
              [](const CommandSpec& a, const CommandSpec& b) { return a.name < b.name; });
    std::vector<std::pair<CLI::App*, Runner>> runners;
    for (auto& spec : registry) {
        CLI::App* sub = app.add_subcommand(spec.name, spec.description);
        runners.emplace_back(sub, spec.setup(*sub));
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        for (auto& [sub, run] : runners)
            if (sub->parsed()) return run();
        // No subcommand: the desktop app, when it is built in.
        for (auto& [sub, run] : runners)
            if (sub->get_name() == "gui") return run();
        std::fputs(app.help().c_str(), stdout);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
