// mobiquant gui: the desktop app (also what `mobiquant` runs with no arguments). Built only with
// MQ_BUILD_GUI (the default); without it `mobiquant` falls back to printing its help.
#ifdef MQ_HAVE_GUI
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "common/bundled_assets.hpp"
#include "gui/gui_app.hpp"

namespace {

mq::cli::Registration reg{
    "gui", "Open the desktop app: chat, watch each token's bits, steer the budget (default)",
    [](CLI::App& cmd) {
        auto o = std::make_shared<mq::gui::GuiOptions>();
        cmd.add_option("-m,--model", o->model,
                       std::string("GGUF file or Hugging Face directory (default: ") +
                           mq::app::kDefaultModelText + ")");
        cmd.add_option("--device", o->device,
                       "Where models run: cpu, or a Vulkan device (index, part of its name, "
                       "lavapipe) (default: $MOBIQUANT_DEVICE, else the best GPU, else the CPU "
                       "backend; the window draws with Vulkan either way)");
        cmd.add_flag("--validation", o->validation,
                     "Enable the Khronos validation layer (also MOBIQUANT_VALIDATION=1); the exit "
                     "code is 3 when it reported anything");
        cmd.add_option("--script", o->script,
                       "Run timed UI actions from FILE (wait, type, click, slider, wait_tokens, "
                       "screenshot, quit; see app/gui/script.hpp)")
            ->check(CLI::ExistingFile);
        cmd.add_option("--screenshot-dir", o->screenshot_dir,
                       "Where `screenshot NAME` writes NAME.png")
            ->capture_default_str();
        cmd.add_option("--log", o->log,
                       "Write one JSON line per generated token (bits, target, text)");
        cmd.add_option("--frames", o->frames,
                       "Quit after N frames (0: run until the window closes)")
            ->check(CLI::NonNegativeNumber);
        cmd.add_option("--fps", o->fps, "Redraw rate in frames per second (steady, 1..240)")
            ->check(CLI::Range(1, 240))
            ->capture_default_str();
        cmd.add_option("--width", o->width, "Window width")->capture_default_str();
        cmd.add_option("--height", o->height, "Window height")->capture_default_str();
        return [o] { return mq::gui::run_gui(*o); };
    }};

}  // namespace
#endif
