// Models panel: a plain model (not a MoBiQuant checkpoint) can be quantized into one here. The job
// runs on its own thread (ModelJobs); this draws its form, progress, errors and the result.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "common/bundled_assets.hpp"
#include "gui/engine_worker.hpp"
#include "gui/model_jobs.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace fs = std::filesystem;

namespace {

void fill(std::array<char, 1024>& field, const std::string& text) {
    std::snprintf(field.data(), field.size(), "%s", text.c_str());
}

}  // namespace

void draw_quantize_offer(EngineWorker& worker, ModelJobs& jobs, UiState& ui) {
    std::string model;
    bool offer;
    {
        auto lk = worker.lock();
        const bool loaded = worker.phase() == Phase::Ready || worker.phase() == Phase::Generating;
        model = worker.info().path;
        offer = loaded && !worker.info().mobiquant_checkpoint;
    }
    const JobStatus s = jobs.quantize.status();
    if (!offer && s.state == JobState::Idle) return;
    if (offer && ui.quantize_for != model) {  // defaults for the model just opened
        ui.quantize_for = model;
        fill(ui.quantize_out, default_checkpoint_path(model).string());
        fill(ui.quantize_calib, app::asset_path("calibration.txt").string());
    }

    ImGui::Separator();
    if (offer) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.8f, 0.4f, 1));
        ImGui::TextWrapped(
            "This model is not a MoBiQuant checkpoint: it is sliced at load with round-to-nearest "
            "scales and no routers.");
        ImGui::PopStyleColor();
    }
    if (ImGui::CollapsingHeader("Quantize to MoBiQuant...", ImGuiTreeNodeFlags_DefaultOpen)) {
        const bool running = s.state == JobState::Running;
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
        ImGui::TextWrapped(
            "Calibrates the slices and routers layer by layer on the text's activations and "
            "writes one checkpoint that serves every budget from 2 to 8 bits.");
        ImGui::PopStyleColor();
        ImGui::BeginDisabled(running);
        ImGui::PushItemWidth(-130);
        ImGui::InputText("output file", ui.quantize_out.data(), ui.quantize_out.size());
        ImGui::InputText("calibration text", ui.quantize_calib.data(), ui.quantize_calib.size());
        ImGui::InputInt("calibration tokens", &ui.quantize_tokens, 256, 1024);
        ImGui::PopItemWidth();
        ui.quantize_tokens = std::clamp(ui.quantize_tokens, 1, 10000000);
        std::error_code ec;
        if (!running && fs::exists(ui.quantize_out.data(), ec))
            ImGui::TextDisabled("(the output file exists and will be replaced)");
        bool go = ImGui::Button("Quantize") && offer;
        if (!running && offer) remember_widget(ui, "quantize");
        ImGui::EndDisabled();
        if (go) {
            QuantizeRequest r;
            r.model = model;
            r.out = ui.quantize_out.data();
            r.calibration = ui.quantize_calib.data();
            r.tokens = uint32_t(ui.quantize_tokens);
            jobs.start_quantize(r);
        }
        draw_job_status(jobs.quantize, s, ui, "cancel_quantize");
        if (s.state == JobState::Done) {
            std::error_code size_ec;
            auto bytes = fs::file_size(s.result, size_ec);
            ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.5f, 0.9f, 0.5f, 1));
            ImGui::TextWrapped("Wrote %s (%.1f MB) in %s.", s.result.c_str(),
                               size_ec ? 0.0 : bytes / 1e6, format_seconds(s.elapsed).c_str());
            ImGui::PopStyleColor();
            if (ImGui::Button("Open the checkpoint")) ui.open_request = s.result;
            remember_widget(ui, "open_quantized");
            ImGui::SameLine();
            if (ImGui::Button("Dismiss")) jobs.quantize.clear();
        }
    }
}

}  // namespace mq::gui
