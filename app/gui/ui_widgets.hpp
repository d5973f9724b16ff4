#pragma once
// Small drawing helpers shared by the panels.
#include <imgui.h>

#include <string>
#include <string_view>

#include "gui/chat_state.hpp"
#include "gui/ui_state.hpp"

namespace mq::gui {

inline constexpr const char* kLinearNames[7] = {"q", "k", "v", "o", "gate", "up", "down"};

ImVec4 depth_color(int depth);  // 1..4 slices = 2/4/6/8 bits
// Remembers where the last item is, under a name the script mode can click.
void remember_widget(UiState& ui, const std::string& name);
// A token as a readable literal: quotes, and \n / \t spelled out.
std::string printable(std::string_view text);
// The layers x linears depth grid of one token, as coloured cells.
void draw_depth_grid(const rt::TokenDepths& depths);
void token_tooltip(const TokenView& t);
void bits_legend();

void draw_chat(EngineWorker& worker, UiState& ui);
void draw_budget(EngineWorker& worker, UiState& ui);
void draw_routing(EngineWorker& worker, UiState& ui);
void draw_sampling(EngineWorker& worker, UiState& ui);
void draw_models(EngineWorker& worker, UiState& ui);
void draw_status_bar(EngineWorker& worker, UiState& ui);

}  // namespace mq::gui
