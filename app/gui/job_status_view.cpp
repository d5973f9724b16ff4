// How a background job looks in a panel: a progress bar with its stage and time left and a Cancel
// button while it runs; afterwards its error (red) or that it was cancelled.
#include <fmt/format.h>

#include "gui/background_job.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

std::string format_seconds(double s) {
    if (s < 60) return fmt::format("{:.0f} s", s);
    int m = int(s / 60);
    return fmt::format("{} min {:02d} s", m, int(s) - 60 * m);
}

void draw_job_status(BackgroundJob& job, const JobStatus& s, UiState& ui,
                     const std::string& cancel_name) {
    switch (s.state) {
        case JobState::Idle:
        case JobState::Done:
            break;
        case JobState::Running: {
            std::string overlay = fmt::format("{}  {:.0f}%", s.stage, 100 * s.fraction);
            ImGui::ProgressBar(float(s.fraction), ImVec2(-80, 0), overlay.c_str());
            ImGui::SameLine();
            if (ImGui::Button("Cancel", ImVec2(-1, 0))) job.cancel();
            remember_widget(ui, cancel_name);
            if (s.seconds_left >= 0)
                ImGui::TextDisabled("%s elapsed, about %s left", format_seconds(s.elapsed).c_str(),
                                    format_seconds(s.seconds_left).c_str());
            else
                ImGui::TextDisabled("%s elapsed, estimating the time left",
                                    format_seconds(s.elapsed).c_str());
            break;
        }
        case JobState::Failed:
            ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.45f, 0.4f, 1));
            ImGui::TextWrapped("Failed: %s", s.error.c_str());
            ImGui::PopStyleColor();
            break;
        case JobState::Cancelled:
            ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.4f, 1),
                               "Cancelled after %s; nothing was written.",
                               format_seconds(s.elapsed).c_str());
            break;
    }
}

}  // namespace mq::gui
