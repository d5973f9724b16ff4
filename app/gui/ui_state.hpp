#pragma once
// What the UI thread remembers between frames: input fields, settings, widget positions (so the
// script mode can click them like a person would) and frame timings.
#include <imgui.h>

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/quality_table.hpp"
#include "runtime/sampler.hpp"

namespace mq::gui {

class EngineWorker;
class ModelJobs;

struct WidgetRect {
    ImVec2 min, max;
    int frame = 0;  // last frame it was drawn (enabled)
};

// A generated token: its turn and its index in that turn.
struct TokenRef {
    size_t turn = 0, token = 0;
};

struct UiState {
    std::array<char, 4096> input{};
    std::array<char, 1024> model_path{};
    std::vector<std::string> recent_models;
    float budget = 8.0f;
    bool speed_mode = false;     // the slider sets tokens/s instead of bits
    float speed_target = 20.0f;  // tokens/s, in speed mode
    rt::SamplerOptions sampling;
    int max_tokens = 256;
    int seed = 0;  // 0: random
    bool focus_input = false;
    bool follow_chat = true;  // keep the newest token in view
    std::map<std::string, WidgetRect> widgets;
    std::vector<WidgetRect> token_rects;  // generated tokens of the whole conversation, in order
    std::vector<TokenRef> token_refs;     // which token each of token_rects is
    std::optional<TokenRef> what_if_request;  // clicked while drawing; sent once drawn
    uint64_t what_if_seen = 0;   // the what-if request the tab was last brought to front for
    std::deque<float> frame_ms;  // CPU time per frame (UI work, recording, submit)
    int frame = 0;
    std::string open_request;  // a path the UI asked to open (waits while the eval job runs)
    // The eval job runs the model on the shared Vulkan device: chat and model loading wait for it
    // (command pools are per thread, but a model's forward and its kernels are not thread-safe).
    bool device_busy = false;

    // Models panel: the quantize offer's form, filled with defaults for `quantize_for`.
    std::string quantize_for;
    std::array<char, 1024> quantize_out{}, quantize_calib{};
    int quantize_tokens = 2048;
    int server_port = 8080;  // the Models panel's server

    // Quality view: the table of `quality_for` (read when the model or the eval job changes).
    std::string quality_for;
    std::optional<eval::QualityTable> quality;
    std::string quality_error;       // the table file exists but could not be read
    uint64_t quality_eval_seen = 0;  // BackgroundJob::finished() when it was last read
    bool quality_log_y = true;
    bool quality_kl = false;  // plot and compare KL from full precision instead of perplexity
    std::array<char, 1024> eval_text{};
    int eval_tokens = 2048;
};

// Draws the whole window for one frame. Requests (send, stop, open...) go to the worker.
void draw_app(EngineWorker& worker, ModelJobs& jobs, UiState& ui);

// Red (2 bits) through yellow to green (8 bits); white for unquantized weights.
ImVec4 bits_color(float bits);

}  // namespace mq::gui
