// The Routing tab: a heatmap of depth over layers x linears (rows) and the recent tokens
// (columns), with the token under the mouse named and a click opening its what-if view; the
// mean depth per linear type and the histogram of depths over the same tokens.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gui/engine_worker.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

using rt::kLinearsPerLayer;
constexpr ImU32 kLabelColor = IM_COL32(190, 190, 190, 255);

struct ShownToken {
    const TokenView* view;
    TokenRef ref;
};

// The generated tokens of the conversation with depths, newest last (at most `limit`).
std::vector<ShownToken> recent_tokens(const EngineWorker& worker, size_t limit) {
    std::vector<ShownToken> out;
    const auto& turns = worker.turns();
    for (size_t t = turns.size(); t-- > 0 && out.size() < limit;)
        for (size_t i = turns[t].tokens.size(); i-- > 0 && out.size() < limit;)
            if (!turns[t].tokens[i].depths.empty()) out.push_back({&turns[t].tokens[i], {t, i}});
    std::reverse(out.begin(), out.end());
    return out;
}

void depth_key() {
    ImGui::TextDisabled("depth:");
    for (int d = 1; d <= 4; ++d) {
        ImGui::SameLine();
        ImGui::ColorButton(fmt::format("##depth{}", d).c_str(), depth_color(d),
                           ImGuiColorEditFlags_NoTooltip, ImVec2(12, 12));
        ImGui::SameLine(0, 4);
        ImGui::Text("%d (%d bits)", d, 2 * d);
    }
}

void draw_heatmap(const std::vector<ShownToken>& toks, uint32_t layers, size_t cols, UiState& ui) {
    const float label_w = 30;
    const float avail = ImGui::GetContentRegionAvail().x - label_w;
    const uint32_t rows = layers * kLinearsPerLayer;
    const float cell_w = avail / float(cols);
    const float cell_h = std::clamp(170.0f / float(rows), 1.0f, 6.0f);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImVec2 p = ImGui::GetCursorScreenPos();
    p.x += label_w;
    const ImVec2 end(p.x + cols * cell_w, p.y + rows * cell_h);
    dl->AddRectFilled(p, end, IM_COL32(30, 30, 36, 255));
    for (uint32_t l = 0; l < layers; l += std::max(1u, layers / 8))
        dl->AddText(ImVec2(p.x - label_w + 2, p.y + l * kLinearsPerLayer * cell_h - 1), kLabelColor,
                    fmt::format("L{}", l).c_str());
    for (size_t c = 0; c < toks.size(); ++c)
        for (uint32_t l = 0; l < layers && l < toks[c].view->depths.size(); ++l)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                ImVec2 a(p.x + c * cell_w, p.y + (l * kLinearsPerLayer + j) * cell_h);
                dl->AddRectFilled(a, ImVec2(a.x + cell_w, a.y + cell_h),
                                  ImGui::GetColorU32(depth_color(toks[c].view->depths[l][j])));
            }
    // Thin lines between layers, so a row can be told apart from the next layer's.
    for (uint32_t l = 1; l < layers; ++l) {
        const float y = p.y + l * kLinearsPerLayer * cell_h;
        dl->AddLine(ImVec2(p.x, y), ImVec2(end.x, y), IM_COL32(15, 15, 18, 255));
    }
    ImGui::Dummy(ImVec2(label_w + cols * cell_w, rows * cell_h + 4));
    remember_widget(ui, "heatmap");
    if (!ImGui::IsItemHovered() || toks.empty()) return;

    // The cell under the mouse: its token (column) and layer/linear (row).
    const ImVec2 m = ImGui::GetIO().MousePos;
    const size_t c = size_t(std::max(0.0f, (m.x - p.x) / cell_w));
    const uint32_t r = uint32_t(std::max(0.0f, (m.y - p.y) / cell_h));
    if (c >= toks.size() || r >= rows) return;
    const float x = p.x + c * cell_w;
    dl->AddRect(ImVec2(x - 1, p.y - 1), ImVec2(x + cell_w + 1, end.y + 1),
                IM_COL32(255, 255, 255, 255));
    const TokenView& t = *toks[c].view;
    const uint32_t layer = r / kLinearsPerLayer, linear = r % kLinearsPerLayer;
    ImGui::BeginTooltip();
    ImGui::Text("token %s", printable(t.text).c_str());
    ImGui::TextColored(bits_color(t.bits), "%.2f bits average", t.bits);
    ImGui::SameLine();
    ImGui::TextDisabled("(budget %.2f)", t.target_bits);
    if (layer < t.depths.size())
        ImGui::Text("layer %u, %s: depth %d (%d bits)", layer, kLinearNames[linear],
                    t.depths[layer][linear], 2 * t.depths[layer][linear]);
    ImGui::TextDisabled("click: what-if at this position");
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(0)) ui.what_if_request = toks[c].ref;
}

// Mean depth per linear type: a column each, the value above and the name below, so every
// number stays readable however narrow the panel.
void draw_linear_means(const std::array<double, kLinearsPerLayer>& mean) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float line_h = ImGui::GetTextLineHeight();
    const float col_w = ImGui::GetContentRegionAvail().x / kLinearsPerLayer, bar_h = 44;
    const float top = p.y + line_h + 2, base = top + bar_h;
    for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
        const float x0 = p.x + j * col_w, cx = x0 + col_w / 2;
        const float h = bar_h * float(std::clamp(mean[j], 0.0, 4.0) / 4.0);
        dl->AddRectFilled(ImVec2(x0 + 6, top), ImVec2(x0 + col_w - 6, base),
                          IM_COL32(40, 40, 48, 255));
        dl->AddRectFilled(ImVec2(x0 + 6, base - h), ImVec2(x0 + col_w - 6, base),
                          ImGui::GetColorU32(depth_color(int(std::lround(mean[j])))));
        const std::string value = fmt::format("{:.2f}", mean[j]);
        dl->AddText(ImVec2(cx - ImGui::CalcTextSize(value.c_str()).x / 2, p.y), kLabelColor,
                    value.c_str());
        dl->AddText(ImVec2(cx - ImGui::CalcTextSize(kLinearNames[j]).x / 2, base + 2), kLabelColor,
                    kLinearNames[j]);
    }
    ImGui::Dummy(ImVec2(col_w * kLinearsPerLayer, 2 * line_h + bar_h + 6));
}

void draw_histogram(const std::array<int, 5>& count) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const int total = std::max(1, count[1] + count[2] + count[3] + count[4]);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float hw = ImGui::GetContentRegionAvail().x / 4, hh = 40;
    for (int d = 1; d <= 4; ++d) {
        const float frac = float(count[d]) / total;
        ImVec2 a(p.x + (d - 1) * hw + 4, p.y + hh * (1 - frac));
        dl->AddRectFilled(a, ImVec2(p.x + d * hw - 4, p.y + hh),
                          ImGui::GetColorU32(depth_color(d)));
        dl->AddText(ImVec2(p.x + (d - 1) * hw + 8, p.y + hh + 2), kLabelColor,
                    fmt::format("{} ({} bits) {:.0f}%", d, 2 * d, 100 * frac).c_str());
    }
    ImGui::Dummy(ImVec2(4 * hw, hh + ImGui::GetTextLineHeight() + 4));
}

}  // namespace

void draw_routing(EngineWorker& worker, UiState& ui) {
    auto lk = worker.lock();
    const uint32_t layers = worker.info().n_layers;
    if (layers == 0) {
        ImGui::TextDisabled("no model");
        return;
    }
    const size_t cols =
        std::clamp<size_t>(size_t((ImGui::GetContentRegionAvail().x - 30) / 6.0f), 8, 160);
    const auto toks = recent_tokens(worker, cols);
    ImGui::Text("Depth of the last %zu tokens (columns, newest right)", toks.size());
    ImGui::TextDisabled("rows: layers L0..L%u, 7 linears each (q k v o gate up down)", layers - 1);
    draw_heatmap(toks, layers, cols, ui);
    depth_key();
    ImGui::TextDisabled("hover a column for its token; click it for its what-if view");

    std::array<double, kLinearsPerLayer> mean{};
    std::array<int, 5> count{};
    for (const auto& t : toks)
        for (const auto& layer : t.view->depths)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                mean[j] += layer[j];
                count[std::clamp<int>(layer[j], 1, 4)]++;
            }
    const double cells = toks.empty() ? 1.0 : double(toks.size()) * layers;
    for (double& m : mean) m /= cells;
    ImGui::Spacing();
    ImGui::TextUnformatted("Mean depth per linear (slices; x2 = bits)");
    draw_linear_means(mean);
    ImGui::TextUnformatted("Histogram of depths");
    draw_histogram(count);
}

}  // namespace mq::gui
