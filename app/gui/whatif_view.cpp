// The What-if tab: a clicked token's position re-run at uniform depth 1-4 and at the routed
// depths, side by side: each one's top next-token candidates and KL divergence from depth 4.
#include <algorithm>

#include <fmt/format.h>

#include "gui/engine_worker.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

// At most `n` characters of a token's printable form (whole UTF-8 characters).
std::string clipped(const std::string& text, size_t n) {
    std::string p = printable(text);
    size_t chars = 0, i = 0;
    for (; i < p.size(); ++i)
        if ((p[i] & 0xC0) != 0x80 && ++chars > n) break;
    return i < p.size() ? p.substr(0, i) + "~" : p;
}

void draw_column_head(const rt::WhatIfRow& row) {
    // "depth 2 (4 bits)" -> "depth 2"; "routed (budget 4.50)" -> "routed".
    ImGui::TextUnformatted(row.label.substr(0, row.label.find(" (")).c_str());
    ImGui::TextColored(bits_color(row.bits), "%.2f bits", row.bits);
    if (row.kl == 0)
        ImGui::TextDisabled("KL 0");
    else
        ImGui::Text("KL %.4f", row.kl);
}

void draw_candidate(const rt::WhatIfCandidate& c, bool actual, float width) {
    // A bar of the probability behind the text; the generated token in bold colour.
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetTextLineHeight();
    ImGui::GetWindowDrawList()->AddRectFilled(
        p, ImVec2(p.x + width * std::clamp(c.prob, 0.0f, 1.0f), p.y + h),
        IM_COL32(70, 90, 140, 255));
    const std::string s = fmt::format("{:3.0f}% {}", 100 * c.prob, clipped(c.text, 7));
    if (actual)
        ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.3f, 1), "%s", s.c_str());
    else
        ImGui::TextUnformatted(s.c_str());
}

}  // namespace

void draw_what_if(EngineWorker& worker, UiState& ui) {
    auto lk = worker.lock();
    const WhatIfView& w = worker.what_if();
    if (w.serial == 0 || w.turn == SIZE_MAX) {  // none asked for, or its token is gone
        ImGui::TextWrapped(
            "Click a generated token (in the chat, or a column of the routing heatmap) to re-run "
            "its position from the cached prefix at uniform depth 1, 2, 3 and 4 and at the "
            "routed depths, and compare what the model would have said next.");
        return;
    }
    ImGui::TextWrapped("after %s", printable(w.context_tail).c_str());
    ImGui::Text("the model wrote");
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.3f, 1), "%s", printable(w.token_text).c_str());
    if (w.pending) {
        ImGui::TextDisabled("re-running this position at every depth...");
        return;
    }
    if (!w.error.empty()) {
        ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "what-if failed: %s", w.error.c_str());
        return;
    }
    const auto& rows = w.result.rows;
    ImGui::SameLine();
    ImGui::TextDisabled("(position %u)", w.result.at);
    const ImGuiTableFlags flags = ImGuiTableFlags_Borders | ImGuiTableFlags_SizingStretchSame;
    if (!rows.empty() && ImGui::BeginTable("whatif", int(rows.size()), flags)) {
        ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
        for (const auto& row : rows) {
            ImGui::TableNextColumn();
            draw_column_head(row);
        }
        const size_t k = rows.front().top.size();
        for (size_t i = 0; i < k; ++i) {
            ImGui::TableNextRow();
            for (const auto& row : rows) {
                ImGui::TableNextColumn();
                if (i < row.top.size())
                    draw_candidate(row.top[i], int64_t(row.top[i].id) == w.result.actual,
                                   ImGui::GetContentRegionAvail().x);
            }
        }
        if (w.result.actual >= 0) {
            ImGui::TableNextRow();
            for (const auto& row : rows) {
                ImGui::TableNextColumn();
                ImGui::TextDisabled("p(wrote) %.0f%%", 100 * row.actual_prob);
            }
        }
        ImGui::EndTable();
    }
    remember_widget(ui, "whatif_table");
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped(
        "Each column: the next-token candidates if every routed linear had read that many "
        "slices at this position (the prefix as generated), and the KL divergence of that "
        "distribution from depth 4's, in nats. \"routed\": the depths the routers choose at "
        "the current budget. Yellow: the token the model wrote.");
    ImGui::PopStyleColor();
}

}  // namespace mq::gui
