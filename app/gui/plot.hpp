#pragma once
// A small x-y plot drawn with ImDrawList (Debian's ImGui 1.86 has no ImPlot): lines and/or
// markers per series, horizontal reference lines, "nice" ticks on linear or log axes, axis
// labels, a legend, and a tooltip with the nearest point under the mouse.
#include <imgui.h>

#include <string>
#include <vector>

namespace mq::gui {

enum class Marker { None, Circle, Square, Diamond };

struct PlotSeries {
    std::string label;
    std::vector<ImVec2> points;  // drawn in this order (sort by x for a curve)
    ImU32 color = IM_COL32(255, 255, 255, 255);
    float thickness = 2.0f;  // 0: no line, markers only
    Marker marker = Marker::None;
    float marker_size = 4.0f;
};

struct PlotHLine {
    std::string label;
    float y = 0;
    ImU32 color = IM_COL32(200, 200, 200, 255);
};

struct PlotOptions {
    std::string x_label, y_label;
    ImVec2 size{-1, 240};  // -1: the available width
    bool log_y = false;
    // Axis ranges; min >= max means "fit the data".
    float x_min = 0, x_max = 0, y_min = 0, y_max = 0;
    const char* x_format = "%g";
    const char* y_format = "%g";
};

// Draws the plot as one item of the given size at the cursor.
void draw_plot(const char* id, const PlotOptions& options, const std::vector<PlotSeries>& series,
               const std::vector<PlotHLine>& hlines = {});

// Tick values between lo and hi: 1/2/5 x 10^k steps, about `target` of them (linear axes), or
// 1/2/5 x 10^k values (log axes). Exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int target, bool log_scale);

}  // namespace mq::gui
