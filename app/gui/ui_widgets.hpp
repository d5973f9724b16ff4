#pragma once
// Small drawing helpers shared by the panels.
#include <imgui.h>

#include <string>
#include <string_view>

#include "gui/chat_state.hpp"
#include "gui/ui_state.hpp"

namespace mq::gui {

class BackgroundJob;
struct JobStatus;

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
// The What-if tab: a clicked token's position at depths 1-4 and the routed depths.
void draw_what_if(EngineWorker& worker, UiState& ui);
void draw_sampling(EngineWorker& worker, UiState& ui);
void draw_models(EngineWorker& worker, ModelJobs& jobs, UiState& ui);
// Models panel, for a model that is not a MoBiQuant checkpoint: quantize it (model_jobs.hpp).
void draw_quantize_offer(EngineWorker& worker, ModelJobs& jobs, UiState& ui);
// The Quality tab: perplexity versus bits from the model's quality table, or how to make one.
void draw_quality(EngineWorker& worker, ModelJobs& jobs, UiState& ui);
// A running job's progress bar (stage, percent, time left) and its Cancel button (clickable by
// the script as `cancel_name`); the outcome of an ended one (error in red).
void draw_job_status(BackgroundJob& job, const JobStatus& s, UiState& ui,
                     const std::string& cancel_name);
std::string format_seconds(double s);  // "45 s", "3 min 05 s"
void draw_status_bar(EngineWorker& worker, UiState& ui);

}  // namespace mq::gui
