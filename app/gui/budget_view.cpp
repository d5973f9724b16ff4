// The precision knob at the top of the side panel: the budget in bits, or a tokens/s target
// that the engine holds by moving the budget; what was achieved, and plots of both over time.
#include <algorithm>

#include <fmt/format.h>

#include "gui/engine_worker.hpp"
#include "gui/plot.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

constexpr ImU32 kAchievedColor = IM_COL32(90, 200, 120, 255);
constexpr ImU32 kAskedColor = IM_COL32(255, 150, 60, 255);
constexpr size_t kPlotTokens = 200;

float reply_mean_bits(const EngineWorker& worker) {
    if (worker.turns().empty() || worker.turns().back().tokens.empty()) return 0;
    const auto& toks = worker.turns().back().tokens;
    double sum = 0;
    for (auto& t : toks) sum += t.bits;
    return float(sum / toks.size());
}

// The mode switch and the slider; changes go to the worker (outside its lock).
void draw_knob(EngineWorker& worker, UiState& ui) {
    ImGui::TextUnformatted("Precision set by");
    ImGui::SameLine();
    const bool to_bits = ImGui::RadioButton("bits", !ui.speed_mode);
    remember_widget(ui, "mode_bits");
    ImGui::SameLine();
    const bool to_speed = ImGui::RadioButton("tokens/s", ui.speed_mode);
    remember_widget(ui, "mode_speed");
    bool send = false;
    if (to_bits && ui.speed_mode) ui.speed_mode = false, send = true;
    if (to_speed && !ui.speed_mode) ui.speed_mode = true, send = true;
    ImGui::SetNextItemWidth(-1);
    if (ui.speed_mode)
        send |= ImGui::SliderFloat("##speed", &ui.speed_target, 1.0f, 500.0f,
                                   "target %.1f tokens/s", ImGuiSliderFlags_Logarithmic);
    else
        send |= ImGui::SliderFloat("##budget", &ui.budget, 2.0f, 8.0f, "target %.1f bits / weight");
    remember_widget(ui, "budget");
    if (!send) return;
    if (ui.speed_mode)
        worker.set_speed_target(ui.speed_target);
    else
        worker.set_budget(ui.budget);
}

void draw_numbers(const EngineWorker& worker, const UiState& ui) {
    const auto& trace = worker.trace();
    if (trace.empty()) {
        ImGui::TextDisabled("achieved bits appear while the model generates");
        return;
    }
    if (trace.back().bits > 8.5f) {
        ImGui::TextUnformatted("unquantized model: 32-bit weights");
        return;
    }
    ImGui::TextUnformatted("last token");
    ImGui::SameLine();
    ImGui::TextColored(bits_color(trace.back().bits), "%.2f bits", trace.back().bits);
    ImGui::SameLine();
    const float mean = reply_mean_bits(worker);
    ImGui::TextUnformatted("  reply mean");
    ImGui::SameLine();
    ImGui::TextColored(bits_color(mean), "%.2f bits", mean);
    if (!ui.speed_mode) return;
    ImGui::Text("achieved %.1f tokens/s (target %.1f), budget chosen %.2f bits", trace.back().tps,
                worker.speed_target(), trace.back().budget);
    const std::string& state = worker.stats().speed_state;
    if (state.rfind("unreachable", 0) == 0)
        ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s", state.c_str());
    else if (!state.empty())
        ImGui::TextDisabled("controller: %s", state.c_str());
}

// A colour swatch and its label, on the current line.
void legend_item(ImU32 color, const char* label) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetTextLineHeight();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + h / 2 - 2),
                                              ImVec2(p.x + 18, p.y + h / 2 + 2), color);
    ImGui::Dummy(ImVec2(22, h));
    ImGui::SameLine(0, 0);
    ImGui::TextUnformatted(label);
}

// Bits per token (achieved and asked for) and, in speed mode, tokens/s against the target. The
// legend is one line above the plots: inside them it would hide data, they are small.
void draw_plots(const EngineWorker& worker, const UiState& ui) {
    legend_item(kAchievedColor, "achieved");
    ImGui::SameLine(0, 16);
    legend_item(kAskedColor, ui.speed_mode ? "budget chosen (left), target (right)" : "budget");
    const auto& trace = worker.trace();
    const size_t n = std::min(trace.size(), kPlotTokens);
    const size_t first = trace.size() - n;
    // The achieved line wide under the thin budget line: where they agree both stay visible.
    PlotSeries achieved{"", {}, kAchievedColor, 3.5f};
    PlotSeries asked{"", {}, kAskedColor, 1.2f};
    PlotSeries speed{"", {}, kAchievedColor, 1.5f};
    for (size_t i = first; i < trace.size(); ++i) {
        const float x = float(i + 1);
        achieved.points.emplace_back(x, std::min(trace[i].bits, 8.0f));
        asked.points.emplace_back(x, trace[i].budget);
        if (trace[i].tps > 0) speed.points.emplace_back(x, trace[i].tps);
    }
    const float spacing = ImGui::GetStyle().ItemSpacing.x;
    const float width = ImGui::GetContentRegionAvail().x;
    PlotOptions bits;
    bits.x_label = "token";
    bits.y_label = "bits";
    bits.size = ImVec2(ui.speed_mode ? (width - spacing) / 2 : width, 130);
    bits.y_min = 1.5f;
    bits.y_max = 8.5f;
    bits.x_format = "%.0f";
    draw_plot("##bits_plot", bits, {achieved, asked});
    if (!ui.speed_mode) return;
    ImGui::SameLine();
    PlotOptions tps;
    tps.x_label = "token";
    tps.y_label = "tokens/s";
    tps.size = ImVec2((width - spacing) / 2, 130);
    tps.y_min = 0;
    float top = worker.speed_target();
    for (const ImVec2& p : speed.points) top = std::max(top, p.y);
    tps.y_max = top * 1.15f + 1;
    tps.x_format = "%.0f";
    draw_plot("##tps_plot", tps, {speed}, {{"", worker.speed_target(), kAskedColor}});
}

}  // namespace

void draw_budget(EngineWorker& worker, UiState& ui) {
    draw_knob(worker, ui);
    auto lk = worker.lock();
    draw_numbers(worker, ui);
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    if (ui.speed_mode)
        ImGui::TextWrapped(
            "(the budget moves from token to token to hold the speed: when the device gets "
            "busy, precision drops instead of speed)");
    else if (worker.info().routed)
        ImGui::TextWrapped(
            "(the checkpoint's routers choose each token's depth per linear; the budget sets "
            "their thresholds)");
    else
        ImGui::TextWrapped(
            "(no trained routers: the budget is met by mixing neighbouring uniform "
            "depths token by token)");
    ImGui::PopStyleColor();
    draw_plots(worker, ui);
}

}  // namespace mq::gui
