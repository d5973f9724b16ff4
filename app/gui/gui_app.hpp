#pragma once
// The desktop app's entry point, called by `mobiquant gui` and by `mobiquant` with no arguments.
#include <string>

namespace mq::gui {

struct GuiOptions {
    std::string model;   // empty: the default model
    std::string device;  // cpu, or a Vulkan device (runtime/device_choice.hpp)
    bool validation = false;
    std::string script;  // --script FILE: timed UI actions (script.hpp)
    std::string screenshot_dir = "screenshots";
    std::string log;  // one JSON line per generated token
    int frames = 0;   // quit after this many frames (0: run until closed)
    int fps = 60;     // redraw rate (steady, whether or not tokens arrive)
    int width = 1280, height = 800;
};

// Returns the process exit code: 0, 2 when the script failed, 3 when the validation layer
// reported messages. Throws mq::Error when there is no display or no usable Vulkan device.
int run_gui(const GuiOptions& options);

}  // namespace mq::gui
