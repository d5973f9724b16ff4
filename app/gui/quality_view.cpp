// The Quality tab: perplexity (or KL divergence from full precision) versus average bits from the
// loaded model's quality table (the eval job's output, "<model>.quality.json" beside it): the
// routed curve, the uniform-depth and bit-specific points beside it, the random and mix controls,
// the full-precision line, and the numbers under the plot. Without a table: how to make one, and
// a button that runs the eval job.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "common/bundled_assets.hpp"
#include "gui/engine_worker.hpp"
#include "gui/model_jobs.hpp"
#include "gui/plot.hpp"
#include "gui/ui_widgets.hpp"

namespace mq::gui {

namespace {

constexpr ImU32 kRouted = IM_COL32(80, 170, 255, 255);
constexpr ImU32 kUniform = IM_COL32(255, 150, 60, 255);
constexpr ImU32 kBitSpecific = IM_COL32(230, 90, 200, 255);
constexpr ImU32 kRandom = IM_COL32(150, 150, 150, 170);
constexpr ImU32 kMix = IM_COL32(140, 200, 140, 170);
constexpr ImU32 kFp = IM_COL32(235, 235, 235, 255);

// The plotted and compared value: perplexity, or KL from full precision in millinats per token
// (-1 where the table has none).
double metric(const eval::QualityPoint& p, bool kl) {
    return kl ? (p.kl >= 0 ? 1e3 * p.kl : -1) : p.ppl;
}

std::vector<ImVec2> by_bits(const std::vector<eval::QualityPoint>& points, bool kl) {
    std::vector<ImVec2> out;
    for (auto& p : points)
        if (metric(p, kl) > 0) out.emplace_back(float(p.bits), float(metric(p, kl)));
    std::sort(out.begin(), out.end(), [](ImVec2 a, ImVec2 b) { return a.x < b.x; });
    return out;
}

// The point of `points` at (about) these bits: the same index when the lists line up (the eval
// job runs the controls at the routed points' bits), else the nearest within 0.15 bits.
const eval::QualityPoint* at_bits(const std::vector<eval::QualityPoint>& points, size_t index,
                                  double bits) {
    if (index < points.size() && std::abs(points[index].bits - bits) < 0.15) return &points[index];
    const eval::QualityPoint* best = nullptr;
    for (auto& p : points)
        if (std::abs(p.bits - bits) < 0.15 &&
            (!best || std::abs(p.bits - bits) < std::abs(best->bits - bits)))
            best = &p;
    return best;
}

void value_cell(const eval::QualityPoint* p, bool kl, ImU32 color = 0) {
    ImGui::TableNextColumn();
    if (!p || metric(*p, kl) < 0) {
        ImGui::TextDisabled("-");
        return;
    }
    std::string text = fmt::format(fmt::runtime(kl ? "{:.4g}" : "{:.2f}"), metric(*p, kl));
    if (color)
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(color), "%s", text.c_str());
    else
        ImGui::TextUnformatted(text.c_str());
}

void draw_numbers(const eval::QualityTable& t, bool kl) {
    const ImGuiTableFlags flags =
        ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchSame;
    ImGui::TextWrapped("Full precision: perplexity %.2f%s", t.fp_ppl,
                       kl ? " (tables: KL from it, mnat/token)" : "");
    // Integer widths: one stored checkpoint read at a uniform depth, a quantizer calibrated for
    // that width alone, and the routed checkpoint asked for that budget.
    if (ImGui::BeginTable("widths", 4, flags)) {
        ImGui::TableSetupColumn("bits");
        ImGui::TableSetupColumn("uniform");
        ImGui::TableSetupColumn("bit-specific");
        ImGui::TableSetupColumn("routed");
        ImGui::TableHeadersRow();
        std::vector<double> widths;
        for (auto* v : {&t.uniform, &t.bit_specific})
            for (auto& p : *v)
                if (std::none_of(widths.begin(), widths.end(),
                                 [&](double w) { return std::abs(w - p.bits) < 0.01; }))
                    widths.push_back(p.bits);
        std::sort(widths.begin(), widths.end());
        for (double w : widths) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::Text("%.0f", w);
            value_cell(at_bits(t.uniform, size_t(-1), w), kl);
            value_cell(at_bits(t.bit_specific, size_t(-1), w), kl);
            const eval::QualityPoint* r = nullptr;
            for (auto& p : t.routed)
                if (std::abs(p.budget - w) < 0.01) r = &p;
            value_cell(r, kl, kRouted);
        }
        ImGui::EndTable();
    }
    ImGui::Spacing();
    // Routed budgets with the two controls at the same achieved bits; the routed value is green
    // where it beats both.
    if (!t.routed.empty() && ImGui::BeginTable("routed", 5, flags)) {
        ImGui::TableSetupColumn("budget");
        ImGui::TableSetupColumn("bits");
        ImGui::TableSetupColumn("routed");
        ImGui::TableSetupColumn("same allocation, random tokens");
        ImGui::TableSetupColumn("mix");
        ImGui::TableHeadersRow();
        for (size_t i = 0; i < t.routed.size(); ++i) {
            const auto& r = t.routed[i];
            auto* rnd = at_bits(t.random, i, r.bits);
            auto* mix = at_bits(t.mix, i, r.bits);
            auto below = [&](const eval::QualityPoint* c) {
                return !c || metric(r, kl) < metric(*c, kl);
            };
            bool wins = (rnd || mix) && metric(r, kl) >= 0 && below(rnd) && below(mix);
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::Text("%.1f", r.budget);
            ImGui::TableNextColumn();
            ImGui::Text("%.2f", r.bits);
            value_cell(&r, kl, wins ? IM_COL32(120, 230, 120, 255) : kRouted);
            value_cell(rnd, kl);
            value_cell(mix, kl);
        }
        ImGui::EndTable();
    }
}

void draw_plot_of(const eval::QualityTable& t, UiState& ui) {
    const bool kl = ui.quality_kl;
    std::vector<PlotSeries> series;
    series.push_back(
        {"same allocation, random tokens", by_bits(t.random, kl), kRandom, 1.5f, Marker::None});
    series.push_back({"uniform mix", by_bits(t.mix, kl), kMix, 1.5f, Marker::None});
    series.push_back(
        {"routed (one checkpoint)", by_bits(t.routed, kl), kRouted, 2.5f, Marker::Circle, 3.5f});
    // Bit-specific diamonds under the smaller uniform squares: both stay visible where they meet.
    series.push_back(
        {"bit-specific PTQ", by_bits(t.bit_specific, kl), kBitSpecific, 0, Marker::Diamond, 5.5f});
    series.push_back({"uniform depth", by_bits(t.uniform, kl), kUniform, 0, Marker::Square, 3.5f});
    std::vector<PlotHLine> lines;
    if (t.fp_ppl > 0 && !kl)
        lines.push_back({fmt::format("full precision {:.2f}", t.fp_ppl), float(t.fp_ppl), kFp});
    PlotOptions o;
    o.x_label = "average bits (routed linears)";
    const char* name = kl ? "KL from full precision, mnat/token" : "perplexity";
    o.y_label = ui.quality_log_y ? fmt::format("{} (log scale)", name) : name;
    o.log_y = ui.quality_log_y;
    o.size = ImVec2(-1, 260);
    o.x_min = 1.5f;
    o.x_max = 8.5f;
    o.y_format = "%.6g";
    draw_plot("quality", o, series, lines);
    remember_widget(ui, "quality_plot");
}

// Reads the table when the model changes or the eval job has written a new one.
void refresh_table(const std::string& model, const JobStatus& eval_status, UiState& ui) {
    bool new_eval =
        eval_status.state == JobState::Done && eval_status.finished != ui.quality_eval_seen;
    if (model == ui.quality_for && !new_eval) return;
    ui.quality_for = model;
    ui.quality_eval_seen = eval_status.finished;
    ui.quality.reset();
    ui.quality_error.clear();
    if (model.empty()) return;
    try {
        ui.quality = eval::load_quality_table(model);
    } catch (const std::exception& e) {
        ui.quality_error = e.what();
    }
    if (ui.eval_text[0] == 0)
        std::snprintf(ui.eval_text.data(), ui.eval_text.size(), "%s",
                      app::asset_path("heldout.txt").c_str());
}

void draw_eval_offer(const std::string& model, bool checkpoint, bool generating, ModelJobs& jobs,
                     const JobStatus& s, UiState& ui, bool have_table) {
    const bool running = s.state == JobState::Running;
    if (!have_table) {
        ImGui::TextWrapped(
            "No quality table for this model yet. The eval job makes one: it scores the "
            "checkpoint on held-out text at every uniform depth, against bit-specific baselines, "
            "at routed budgets 2.0 .. 8.0 and with two controls (the same allocation with random "
            "tokens, uniform mix), and "
            "saves it beside the model as");
        ImGui::TextColored(ImVec4(0.7f, 0.85f, 1, 1), "%s",
                           eval::quality_table_path(model).filename().c_str());
        ImGui::TextWrapped("From a terminal:");
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.7f, 0.85f, 1, 1));
        ImGui::TextWrapped("mobiquant eval --model %s --text %s --save", model.c_str(),
                           ui.eval_text.data());
        ImGui::PopStyleColor();
        ImGui::TextWrapped("or here:");
    }
    if (!checkpoint) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.8f, 0.4f, 1));
        ImGui::TextWrapped(
            "The eval job compares the depths of a MoBiQuant checkpoint: quantize this model "
            "first (Models tab), then open the checkpoint.");
        ImGui::PopStyleColor();
    }
    if (generating) ImGui::TextDisabled("(waits for the reply being generated)");
    ImGui::BeginDisabled(running || !checkpoint || generating);
    ImGui::PushItemWidth(-150);
    ImGui::InputText("held-out text", ui.eval_text.data(), ui.eval_text.size());
    ImGui::InputInt("tokens per row", &ui.eval_tokens, 256, 1024);
    ImGui::PopItemWidth();
    ui.eval_tokens = std::clamp(ui.eval_tokens, 16, 1 << 24);
    if (ImGui::Button(have_table ? "Run eval again" : "Run eval")) {
        EvalRequest r;
        r.model = model;
        r.text = ui.eval_text.data();
        r.calibration = app::asset_path("calibration.txt");
        r.tokens = uint64_t(ui.eval_tokens);
        jobs.start_eval(r);
    }
    if (!running && checkpoint && !generating) remember_widget(ui, "run_eval");
    ImGui::EndDisabled();
    draw_job_status(jobs.eval, s, ui, "cancel_eval");
}

}  // namespace

void draw_quality(EngineWorker& worker, ModelJobs& jobs, UiState& ui) {
    std::string model, name;
    bool checkpoint = false, generating = false;
    {
        auto lk = worker.lock();
        generating = worker.phase() == Phase::Generating;
        if (worker.phase() == Phase::Ready || worker.phase() == Phase::Generating) {
            model = worker.info().path;
            name = worker.info().name;
            checkpoint = worker.info().mobiquant_checkpoint;
        }
    }
    const JobStatus s = jobs.eval.status();
    refresh_table(model, s, ui);
    if (model.empty()) {
        ImGui::TextDisabled("no model");
        return;
    }
    if (!ui.quality_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.45f, 0.4f, 1));
        ImGui::TextWrapped("The quality table could not be read: %s", ui.quality_error.c_str());
        ImGui::PopStyleColor();
    }
    if (!ui.quality) {
        draw_eval_offer(model, checkpoint, generating, jobs, s, ui, false);
        return;
    }
    const eval::QualityTable& t = *ui.quality;
    ImGui::Checkbox("log scale", &ui.quality_log_y);
    ImGui::SameLine();
    // KL from full precision has no first-order noise: it separates configurations whose
    // perplexities differ by less than their noise (above 6 bits on small models).
    const bool has_kl = !t.routed.empty() && t.routed[0].kl >= 0;
    if (!has_kl) ui.quality_kl = false;
    ImGui::BeginDisabled(!has_kl);
    ImGui::Checkbox("KL from full precision", &ui.quality_kl);
    ImGui::EndDisabled();
    remember_widget(ui, "quality_kl");
    ImGui::SameLine();
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped(
        "%s on %s, %llu tokens per row", t.model.empty() ? name.c_str() : t.model.c_str(),
        t.text.empty() ? "held-out text" : t.text.c_str(), (unsigned long long)t.tokens);
    ImGui::PopStyleColor();
    draw_plot_of(t, ui);
    ImGui::BeginChild("quality_numbers", ImVec2(0, 0), false);
    draw_numbers(t, ui.quality_kl);
    ImGui::Spacing();
    if (ImGui::CollapsingHeader("Run the eval job again"))
        draw_eval_offer(model, checkpoint, generating, jobs, s, ui, true);
    else if (s.state != JobState::Idle)
        draw_job_status(jobs.eval, s, ui, "cancel_eval");
    ImGui::EndChild();
}

}  // namespace mq::gui
