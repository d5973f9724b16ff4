// The side panels (budget, routing, sampling, models), the status bar and the window layout.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "gui/engine_worker.hpp"
#include "gui/model_jobs.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

std::string human_count(uint64_t n) {
    if (n >= 1000000000ull) return fmt::format("{:.2f}B", n / 1e9);
    if (n >= 1000000ull) return fmt::format("{:.1f}M", n / 1e6);
    if (n >= 1000ull) return fmt::format("{:.1f}K", n / 1e3);
    return fmt::format("{}", n);
}

}  // namespace

void draw_sampling(EngineWorker& worker, UiState& ui) {
    bool changed = false;
    ImGui::PushItemWidth(180);
    changed |= ImGui::SliderFloat("temperature (0 = greedy)", &ui.sampling.temperature, 0.0f, 2.0f);
    int top_k = int(ui.sampling.top_k);
    changed |= ImGui::SliderInt("top-k (0 = off)", &top_k, 0, 200);
    ui.sampling.top_k = uint32_t(std::max(0, top_k));
    changed |= ImGui::SliderFloat("top-p", &ui.sampling.top_p, 0.05f, 1.0f);
    changed |= ImGui::SliderFloat("min-p", &ui.sampling.min_p, 0.0f, 0.5f);
    changed |=
        ImGui::SliderFloat("repetition penalty", &ui.sampling.repetition_penalty, 1.0f, 2.0f);
    changed |= ImGui::InputInt("seed (0 = random)", &ui.seed);
    changed |= ImGui::SliderInt("max new tokens", &ui.max_tokens, 1, 2048);
    ImGui::PopItemWidth();
    ui.seed = std::max(0, ui.seed);
    ui.sampling.seed = uint64_t(ui.seed);
    if (changed) worker.set_sampling(ui.sampling, uint32_t(ui.max_tokens));
    ImGui::TextDisabled("Applies to the next reply.");
}

// The OpenAI-compatible server on the open model's file (a session of its own), at the budget
// the slider shows when it starts.
static void draw_server(ModelJobs& jobs, UiState& ui) {
    ImGui::Separator();
    ServerJob& server = jobs.server;
    const ServerJob::State state = server.state();
    if (state == ServerJob::State::Running) {
        ImGui::Text("Serving at %s/v1: %llu requests", server.address().c_str(),
                    static_cast<unsigned long long>(server.requests()));
        if (ImGui::Button("Stop server")) server.stop();
        remember_widget(ui, "server_stop");
        return;
    }
    if (state == ServerJob::State::Starting) {
        ImGui::TextDisabled("Starting the server...");
        return;
    }
    ImGui::SetNextItemWidth(90);
    ImGui::InputInt("port", &ui.server_port, 0);
    ui.server_port = std::clamp(ui.server_port, 1, 65535);
    ImGui::SameLine();
    if (ImGui::Button("Start server")) {
        server.stop();  // a failed one's thread
        server.start(jobs.device(), ui.model_path.data(), ui.server_port,
                     rt::DepthPolicy::budget(std::clamp(ui.budget, 2.0f, 8.0f)));
    }
    remember_widget(ui, "server_start");
    ImGui::SameLine();
    ImGui::TextDisabled("OpenAI-compatible, on 127.0.0.1");
    if (state == ServerJob::State::Failed)
        ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "Server failed: %s", server.error().c_str());
}

void draw_models(EngineWorker& worker, ModelJobs& jobs, UiState& ui) {
    ImGui::TextUnformatted("GGUF file or Hugging Face folder:");
    ImGui::SetNextItemWidth(-70);
    bool enter = ImGui::InputText("##path", ui.model_path.data(), ui.model_path.size(),
                                  ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    if (ImGui::Button("Open") || enter) ui.open_request = ui.model_path.data();
    remember_widget(ui, "open");
    ImGui::TextDisabled("(or drop a file or folder on the window)");
    if (!ui.recent_models.empty()) {
        ImGui::TextUnformatted("Recent:");
        for (const auto& r : ui.recent_models)
            if (ImGui::Selectable(r.c_str())) {
                std::snprintf(ui.model_path.data(), ui.model_path.size(), "%s", r.c_str());
                ui.open_request = r;
            }
    }
    if (!ui.open_request.empty() && ui.device_busy)
        ImGui::TextDisabled("Opens %s when the eval job ends.", ui.open_request.c_str());
    draw_quantize_offer(worker, jobs, ui);
    ImGui::Separator();
    auto lk = worker.lock();
    const ModelInfo& m = worker.info();
    if (worker.phase() == Phase::Ready || worker.phase() == Phase::Generating) {
        if (ImGui::BeginTable("info", 2, ImGuiTableFlags_SizingFixedFit)) {
            auto row = [](const char* k, const std::string& v) {
                ImGui::TableNextRow();
                ImGui::TableNextColumn();
                ImGui::TextDisabled("%s", k);
                ImGui::TableNextColumn();
                ImGui::TextUnformatted(v.c_str());
            };
            row("name", m.name);
            row("file", m.path);
            row("architecture", fmt::format("{} ({})", m.arch, m.source));
            row("parameters", human_count(m.parameters));
            row("layers / dim / ffn", fmt::format("{} / {} / {}", m.n_layers, m.dim, m.ffn));
            row("heads / kv heads", fmt::format("{} / {}", m.n_heads, m.n_kv_heads));
            row("vocabulary", fmt::format("{}", m.vocab));
            row("context", fmt::format("{} tokens", m.context));
            row("chat template", m.template_family);
            row("weights", m.mobiquant_checkpoint ? (m.routed ? "MoBiQuant checkpoint with routers"
                                                              : "MoBiQuant checkpoint (no routers)")
                           : m.quantized          ? "plain model, sliced to MoBiSlice at load"
                                                  : "unquantized");
            row("bytes / token", fmt::format("{:.1f} MB at 2 bits .. {:.1f} MB at 8 bits",
                                             m.weight_bytes[1] / 1e6, m.weight_bytes[4] / 1e6));
            ImGui::EndTable();
        }
    } else if (worker.phase() == Phase::Failed) {
        ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "Failed: %s", worker.error().c_str());
    } else {
        ImGui::TextDisabled("%s", worker.status().c_str());
    }
    lk.unlock();
    draw_server(jobs, ui);
}

void draw_status_bar(EngineWorker& worker, UiState& ui) {
    auto lk = worker.lock();
    const ModelInfo& m = worker.info();
    const LiveStats& s = worker.stats();
    double mean_bits = 0;
    const auto& hist = worker.bits_history();
    size_t n = std::min<size_t>(hist.size(), 32);
    for (size_t i = hist.size() - n; i < hist.size(); ++i) mean_bits += hist[i];
    mean_bits = n ? mean_bits / n : 8.0;
    // Weight bytes per token at the achieved mean depth, between the two neighbouring depths.
    double bytes_per_s = 0;
    if (m.quantized && s.decode_tps > 0) {
        double depth = std::clamp(mean_bits / 2.0, 1.0, 4.0);
        int lo = int(std::floor(depth)), hi = std::min(4, lo + 1);
        double bytes =
            m.weight_bytes[lo] + (depth - lo) * (double(m.weight_bytes[hi]) - m.weight_bytes[lo]);
        bytes_per_s = bytes * s.decode_tps;
    }
    float frame_ms = 0;
    for (float f : ui.frame_ms) frame_ms += f;
    if (!ui.frame_ms.empty()) frame_ms /= float(ui.frame_ms.size());
    std::string rate = bytes_per_s >= 1e9 ? fmt::format("{:.2f} GB/s", bytes_per_s / 1e9)
                                          : fmt::format("{:.1f} MB/s", bytes_per_s / 1e6);
    std::string device = m.device.substr(0, m.device.find(" ("));
    ImGui::Text(
        "%s | prompt %.0f tok/s | generation %.1f tok/s | weights %s | context %u/%u | "
        "%s (%s params) | %.1f ms/frame",
        device.c_str(), s.prefill_tps, s.decode_tps, rate.c_str(), s.context_used, m.context,
        m.name.empty() ? "no model" : m.name.c_str(), human_count(m.parameters).c_str(), frame_ms);
}

void draw_app(EngineWorker& worker, ModelJobs& jobs, UiState& ui) {
    ui.device_busy = jobs.eval.running();
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->WorkPos);
    ImGui::SetNextWindowSize(vp->WorkSize);
    ImGui::Begin("MoBiQuant Studio", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                     ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoSavedSettings);
    float status_h = ImGui::GetFrameHeightWithSpacing();
    float right_w = std::max(360.0f, vp->WorkSize.x * 0.40f);
    ImGui::BeginChild("chat", ImVec2(-right_w, -status_h), true);
    draw_chat(worker, ui);
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("side", ImVec2(0, -status_h), true);
    draw_budget(worker, ui);
    ImGui::Separator();
    if (ImGui::BeginTabBar("tabs")) {
        // Each tab is remembered under "tab_<name>" so the script mode can click it.
        auto tab = [&](const char* label, const char* name, auto draw) {
            bool open = ImGui::BeginTabItem(label);
            remember_widget(ui, name);
            if (open) {
                draw();
                ImGui::EndTabItem();
            }
        };
        tab("Routing", "tab_routing", [&] { draw_routing(worker, ui); });
        // A new what-if request brings its tab to the front (once).
        uint64_t what_if_serial;
        {
            auto lk = worker.lock();
            what_if_serial = worker.what_if().serial;
        }
        const bool show_what_if = what_if_serial != ui.what_if_seen;
        ui.what_if_seen = what_if_serial;
        bool what_if_open = ImGui::BeginTabItem("What-if", nullptr,
                                                show_what_if ? ImGuiTabItemFlags_SetSelected : 0);
        remember_widget(ui, "tab_whatif");
        if (what_if_open) {
            draw_what_if(worker, ui);
            ImGui::EndTabItem();
        }
        tab("Quality", "tab_quality", [&] { draw_quality(worker, jobs, ui); });
        tab("Sampling", "tab_sampling", [&] { draw_sampling(worker, ui); });
        tab("Models", "tab_models", [&] { draw_models(worker, jobs, ui); });
        ImGui::EndTabBar();
    }
    ImGui::EndChild();
    draw_status_bar(worker, ui);
    ImGui::End();
}

}  // namespace mq::gui
