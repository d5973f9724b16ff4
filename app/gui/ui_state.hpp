#pragma once
// What the UI thread remembers between frames: input fields, settings, widget positions (so the
// script mode can click them like a person would) and frame timings.
#include <imgui.h>

#include <array>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "runtime/sampler.hpp"

namespace mq::gui {

class EngineWorker;

struct WidgetRect {
    ImVec2 min, max;
    int frame = 0;  // last frame it was drawn (enabled)
};

struct UiState {
    std::array<char, 4096> input{};
    std::array<char, 1024> model_path{};
    std::vector<std::string> recent_models;
    float budget = 8.0f;
    rt::SamplerOptions sampling;
    int max_tokens = 256;
    int seed = 0;  // 0: random
    bool focus_input = false;
    bool follow_chat = true;  // keep the newest token in view
    std::map<std::string, WidgetRect> widgets;
    std::vector<WidgetRect> token_rects;  // generated tokens of the whole conversation, in order
    std::deque<float> frame_ms;           // CPU time per frame (UI work, recording, submit)
    int frame = 0;
    std::string open_request;  // a path the UI asked to open this frame
};

// Draws the whole window for one frame. Requests (send, stop, open...) go to the worker.
void draw_app(EngineWorker& worker, UiState& ui);

// Red (2 bits) through yellow to green (8 bits); white for unquantized weights.
ImVec4 bits_color(float bits);

}  // namespace mq::gui
