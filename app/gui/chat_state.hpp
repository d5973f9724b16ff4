#pragma once
// What the window shows, filled by the engine worker and read by the UI thread (both under
// EngineWorker's mutex). Plain data: no Vulkan, no ImGui.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model_weights.hpp"
#include "runtime/whatif.hpp"

namespace mq::gui {

struct TokenView {
    uint32_t id = 0;
    std::string text;
    float bits = 32;  // average over routed linears (32: unquantized)
    float logprob = 0;
    std::vector<std::pair<std::string, float>> top;  // decoded alternatives and their logprobs
    rt::TokenDepths depths;                          // [layer][q,k,v,o,gate,up,down]
    float target_bits = 0;                           // the budget when it was generated
};

struct Turn {
    std::string role;               // "user", "assistant"
    std::string text;               // user text, or the assistant reply decoded so far
    std::vector<TokenView> tokens;  // assistant turns only
    std::vector<uint32_t> prompt;   // assistant turns: the ids the reply followed (for what-if)
};

// One point per generated token, for the budget and speed plots.
struct TokenTrace {
    float bits = 0;    // achieved
    float budget = 0;  // asked for (the slider's, or the speed controller's choice)
    float tps = 0;     // tokens/s over the last few tokens (0 for a reply's first token)
};

// The what-if view: one position re-run at depths 1-4 and the routed depths.
struct WhatIfView {
    bool pending = false;
    std::string error;
    std::string context_tail;    // the text before the position (its end)
    std::string token_text;      // the token that was generated there
    rt::WhatIfResult result;     // rows empty until it is computed
    uint64_t serial = 0;         // counts requests, so the UI can bring the view to front
    size_t turn = 0, token = 0;  // the token it is about (outlined in the chat)
};

struct ModelInfo {
    std::string path, name, arch, source, template_family, device;
    uint32_t vocab = 0, dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, ffn = 0;
    uint32_t context = 0;
    uint64_t parameters = 0;
    bool quantized = false, mobiquant_checkpoint = false;
    bool routed = false;  // the checkpoint has trained routers (the budget picks depths per token)
    std::array<uint64_t, 5>
        weight_bytes{};  // per decode step at uniform depth 1..4 (index 0 unused)
};

enum class Phase { NoModel, Loading, Ready, Generating, Failed };

struct LiveStats {
    double prefill_tps = 0, decode_tps = 0;
    uint32_t prompt_tokens = 0, reused_tokens = 0, generated = 0;
    uint32_t context_used = 0;
    std::string stop_reason;
    uint64_t total_tokens = 0;  // generated since start, all turns
    // Under a tokens/s target: what the controller reports (empty otherwise).
    std::string speed_state;
    // Turns before this index no longer fit the context: the model does not see them.
    size_t first_turn_in_context = 0;
    std::string context_note;  // set when turns were dropped
};

}  // namespace mq::gui
