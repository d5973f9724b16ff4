#include "gui/ui_widgets.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace mq::gui {

ImVec4 bits_color(float bits) {
    if (bits > 8.5f) return ImVec4(0.92f, 0.92f, 0.92f, 1.0f);
    float t = std::clamp((bits - 2.0f) / 6.0f, 0.0f, 1.0f);
    ImVec4 c;
    ImGui::ColorConvertHSVtoRGB(t * 0.33f, 0.75f, 0.95f, c.x, c.y, c.z);
    c.w = 1.0f;
    return c;
}

ImVec4 depth_color(int depth) {
    return bits_color(2.0f * depth);
}

void remember_widget(UiState& ui, const std::string& name) {
    ui.widgets[name] = {ImGui::GetItemRectMin(), ImGui::GetItemRectMax(), ui.frame};
}

std::string printable(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c == '"')
            out += "\\\"";
        else
            out += c;
    }
    return out + "\"";
}

void draw_depth_grid(const rt::TokenDepths& depths) {
    if (depths.empty()) {
        ImGui::TextUnformatted("unquantized weights: no depths");
        return;
    }
    const float cw = 26.0f, ch = std::clamp(260.0f / float(depths.size()), 6.0f, 14.0f);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImVec2 p = ImGui::GetCursorScreenPos();
    const float label_w = 28.0f;
    static const char* short_names[7] = {"q", "k", "v", "o", "g", "u", "d"};
    for (int j = 0; j < 7; ++j)
        dl->AddText(ImVec2(p.x + label_w + j * cw + 9, p.y), IM_COL32(200, 200, 200, 255),
                    short_names[j]);
    const float header_h = ImGui::GetTextLineHeight() + 2;
    p.y += header_h;
    for (size_t l = 0; l < depths.size(); ++l) {
        float y = p.y + l * ch;
        if (ch >= 10 || l % 4 == 0)
            dl->AddText(ImVec2(p.x, y - 2), IM_COL32(160, 160, 160, 255),
                        fmt::format("L{}", l).c_str());
        for (int j = 0; j < 7; ++j) {
            int d = depths[l][j];
            ImVec2 a(p.x + label_w + j * cw, y), b(a.x + cw - 1, y + ch - 1);
            dl->AddRectFilled(a, b, ImGui::GetColorU32(depth_color(d)));
            if (ch >= 12)
                dl->AddText(ImVec2(a.x + 9, a.y - 1), IM_COL32(0, 0, 0, 255),
                            fmt::format("{}", d).c_str());
        }
    }
    ImGui::Dummy(ImVec2(label_w + 7 * cw, header_h + depths.size() * ch + 2));
}

void token_tooltip(const TokenView& t) {
    ImGui::BeginTooltip();
    ImGui::Text("token %s", printable(t.text).c_str());
    ImGui::TextColored(bits_color(t.bits), "%.2f bits average", t.bits);
    ImGui::SameLine();
    ImGui::TextDisabled("(target %.1f)", t.target_bits);
    ImGui::Text("logprob %.3f  (p = %.1f%%)", t.logprob, 100.0 * std::exp(t.logprob));
    ImGui::Separator();
    ImGui::TextUnformatted("Depth (slices 1..4) per layer and linear:");
    ImGui::TextDisabled("q k v o, gate up down");
    draw_depth_grid(t.depths);
    ImGui::Separator();
    ImGui::TextUnformatted("Top alternatives:");
    for (auto& [text, lp] : t.top)
        ImGui::Text("  %-16s %6.3f  (%.1f%%)", printable(text).c_str(), lp, 100.0 * std::exp(lp));
    ImGui::EndTooltip();
}

void bits_legend() {
    ImGui::TextDisabled("bits:");
    for (int b = 2; b <= 8; ++b) {
        ImGui::SameLine();
        ImGui::TextColored(bits_color(float(b)), "%d", b);
    }
}

}  // namespace mq::gui
