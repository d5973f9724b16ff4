// The conversation: user turns as plain text, replies token by token in the colour of their bits,
// each token with a tooltip (a click opens its what-if view); turns that no longer fit the
// context faded; then the input line and the Send / Stop / Regenerate buttons.
#include <string_view>

#include "gui/engine_worker.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

// A token item: its tooltip on hover, and a click asks for its what-if view.
void token_item_events(const TokenView& tok, TokenRef ref, UiState& ui) {
    if (!ImGui::IsItemHovered()) return;
    token_tooltip(tok);
    if (ImGui::IsItemClicked()) ui.what_if_request = ref;
}

void draw_reply(const Turn& turn, size_t turn_index, const WhatIfView& what_if, UiState& ui) {
    const float wrap = ImGui::GetContentRegionAvail().x;
    float line_x = 0;
    for (size_t i = 0; i < turn.tokens.size(); ++i) {
        const TokenView& tok = turn.tokens[i];
        const TokenRef ref{turn_index, i};
        std::string_view s = tok.text;
        ImVec2 first_min(0, 0), last_max(0, 0);
        bool drawn = false;
        size_t start = 0;
        while (true) {
            size_t nl = s.find('\n', start);
            std::string_view piece =
                s.substr(start, nl == std::string_view::npos ? s.npos : nl - start);
            if (!piece.empty()) {
                float w = ImGui::CalcTextSize(piece.data(), piece.data() + piece.size()).x;
                if (line_x > 0 && line_x + w <= wrap)
                    ImGui::SameLine(0, 0);
                else
                    line_x = 0;
                ImGui::PushStyleColor(ImGuiCol_Text, bits_color(tok.bits));
                ImGui::TextUnformatted(piece.data(), piece.data() + piece.size());
                ImGui::PopStyleColor();
                line_x += w;
                if (!drawn) first_min = ImGui::GetItemRectMin();
                last_max = ImGui::GetItemRectMax();
                drawn = true;
                token_item_events(tok, ref, ui);
            }
            if (nl == std::string_view::npos) break;
            if (line_x == 0 && piece.empty()) ImGui::NewLine();  // an empty line
            line_x = 0;
            start = nl + 1;
        }
        if (!drawn) {  // empty text (end of turn): a small marker keeps it inspectable
            if (line_x > 0) ImGui::SameLine(0, 0);
            ImGui::PushStyleColor(ImGuiCol_Text, bits_color(tok.bits));
            ImGui::TextUnformatted(tok.text.empty() ? "\xC2\xB7" : " ");
            ImGui::PopStyleColor();
            token_item_events(tok, ref, ui);
            first_min = ImGui::GetItemRectMin();
            last_max = ImGui::GetItemRectMax();
            line_x += ImGui::GetItemRectSize().x;
        }
        if (what_if.serial && what_if.turn == turn_index && what_if.token == i)
            ImGui::GetWindowDrawList()->AddRect(ImVec2(first_min.x - 1, first_min.y - 1),
                                                ImVec2(last_max.x + 1, last_max.y + 1),
                                                IM_COL32(255, 217, 77, 255));
        ui.token_rects.push_back({first_min, last_max, ui.frame});
        ui.token_refs.push_back(ref);
    }
}

// The model's name, chat template and weights above the conversation, with the bits legend.
void draw_header(const ModelInfo& info, Phase phase) {
    if (phase == Phase::Ready || phase == Phase::Generating) {
        ImGui::Text("%s", info.name.c_str());
        ImGui::SameLine();
        ImGui::TextDisabled("| chat template: %s | %s", info.template_family.c_str(),
                            info.quantized ? "MoBiSlice 2/4/6/8-bit weights" : "unquantized");
        bits_legend();
        ImGui::SameLine();
        ImGui::TextDisabled("  (colour = bits; hover a token for details, click it for what-if)");
    } else {
        ImGui::TextUnformatted("MoBiQuant Studio");
    }
    ImGui::Separator();
}

// What the conversation area says when there is no conversation to show: loading, a failed
// load, or how to start. Called with the worker locked.
void draw_placeholder(const EngineWorker& worker, Phase phase, const UiState& ui) {
    if (phase == Phase::NoModel || phase == Phase::Loading) {
        static const char* dots[] = {"", ".", "..", "..."};
        ImGui::TextColored(ImVec4(0.6f, 0.8f, 1, 1), "Loading the model%s",
                           dots[(ui.frame / 20) % 4]);
        ImGui::TextWrapped("%s", worker.status().c_str());
    } else if (phase == Phase::Failed) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.45f, 0.4f, 1));
        ImGui::TextWrapped("The model could not be opened.");
        ImGui::TextWrapped("%s", worker.error().c_str());
        ImGui::PopStyleColor();
        ImGui::Spacing();
        ImGui::TextWrapped(
            "Open another GGUF file or Hugging Face folder in the Models tab "
            "(or drop it on the window).");
    } else if (worker.turns().empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
        ImGui::TextWrapped(
            "Type a message below and press Enter or Send. Replies appear token "
            "by token, coloured by the bits each token used; hover a token for "
            "its depths, log-probability and alternatives.");
        ImGui::PopStyleColor();
    }
}

// Every turn; those the context no longer holds faded, the note after them. Called with the
// worker locked.
void draw_turns(const EngineWorker& worker, Phase phase, UiState& ui) {
    const size_t first_in_context = worker.stats().first_turn_in_context;
    for (size_t ti = 0; ti < worker.turns().size(); ++ti) {
        const Turn& turn = worker.turns()[ti];
        const bool dropped = ti < first_in_context;
        if (dropped) ImGui::PushStyleVar(ImGuiStyleVar_Alpha, 0.4f);
        if (ti == first_in_context && ti > 0) {
            ImGui::Spacing();
            ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.8f, 0.4f, 1));
            ImGui::TextWrapped("%s", worker.stats().context_note.c_str());
            ImGui::PopStyleColor();
            ImGui::Separator();
        }
        if (turn.role == "user") {
            ImGui::Spacing();
            ImGui::TextColored(ImVec4(0.55f, 0.75f, 1.0f, 1.0f), "You");
            ImGui::TextWrapped("%s", turn.text.c_str());
        } else {
            ImGui::Spacing();
            ImGui::TextColored(ImVec4(0.8f, 0.7f, 1.0f, 1.0f), "Model");
            if (turn.tokens.empty() && phase == Phase::Generating)
                ImGui::TextDisabled("%s", worker.status().c_str());
            draw_reply(turn, ti, worker.what_if(), ui);
        }
        if (dropped) ImGui::PopStyleVar();
    }
}

// The input line and the Send / Stop / Regenerate / New chat buttons.
void draw_input_row(EngineWorker& worker, Phase phase, UiState& ui) {
    bool ready = phase == Phase::Ready && !ui.device_busy;
    if (ui.focus_input) {
        ImGui::SetKeyboardFocusHere();
        ui.focus_input = false;
    }
    ImGui::SetNextItemWidth(-1);
    bool enter =
        ImGui::InputTextWithHint("##input", "Message the model (Enter sends)", ui.input.data(),
                                 ui.input.size(), ImGuiInputTextFlags_EnterReturnsTrue);
    remember_widget(ui, "input");
    ImGui::BeginDisabled(!ready);
    bool send = ImGui::Button("Send");
    if (ready) remember_widget(ui, "send");
    ImGui::EndDisabled();
    if ((send || (enter && ready)) && ui.input[0]) {
        if (worker.send(ui.input.data())) ui.input[0] = 0;
        ui.focus_input = true;
        ui.follow_chat = true;
    }
    ImGui::SameLine();
    ImGui::BeginDisabled(phase != Phase::Generating);
    if (ImGui::Button("Stop")) worker.stop();
    if (phase == Phase::Generating) remember_widget(ui, "stop");
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::BeginDisabled(!ready);
    if (ImGui::Button("Regenerate")) worker.regenerate();
    if (ready) remember_widget(ui, "regenerate");
    ImGui::SameLine();
    if (ImGui::Button("New chat")) worker.reset_chat();
    if (ready) remember_widget(ui, "new_chat");
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::Checkbox("Follow", &ui.follow_chat);
    if (ui.device_busy) {
        ImGui::SameLine();
        ImGui::TextDisabled("(the eval job is using the device)");
    }
}

}  // namespace

void draw_chat(EngineWorker& worker, UiState& ui) {
    Phase phase;
    {
        auto lk = worker.lock();
        phase = worker.phase();
        draw_header(worker.info(), phase);
        float input_h = ImGui::GetFrameHeightWithSpacing() * 2 + 4;
        ImGui::BeginChild("conversation", ImVec2(0, -input_h), false);
        ui.token_rects.clear();
        ui.token_refs.clear();
        draw_placeholder(worker, phase, ui);
        draw_turns(worker, phase, ui);
        if (phase == Phase::Generating && ui.follow_chat) ImGui::SetScrollHereY(1.0f);
        ImGui::EndChild();
    }

    if (ui.what_if_request) {  // outside the worker's lock, which the request takes
        worker.request_what_if(ui.what_if_request->turn, ui.what_if_request->token);
        ui.what_if_request.reset();
    }
    ImGui::Separator();
    draw_input_row(worker, phase, ui);
}

}  // namespace mq::gui
