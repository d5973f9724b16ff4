#include "gui/gui_app.hpp"

#include <backends/imgui_impl_glfw.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "common/bundled_assets.hpp"
#include "core/error.hpp"
#include "gui/engine_worker.hpp"
#include "gui/model_jobs.hpp"
#include "gui/script.hpp"
#include "gui/ui_state.hpp"
#include "gui/vulkan_window.hpp"

namespace mq::gui {

namespace {

using Clock = std::chrono::steady_clock;
std::vector<std::string> g_dropped;  // paths dropped on the window (GLFW callback, UI thread)

// The app as the script sees it: input goes in through ImGui's IO like real mouse and keys.
class App : public ScriptTarget {
  public:
    App(EngineWorker& worker, ModelJobs& jobs, UiState& ui)
        : worker_(worker), jobs_(jobs), ui_(ui) {}

    // After the GLFW backend's NewFrame (which reads the real mouse), before ImGui::NewFrame.
    void inject_input() {
        ImGuiIO& io = ImGui::GetIO();
        if (type_delay_ > 0) {
            --type_delay_;
        } else if (!typed_.empty()) {
            io.AddInputCharactersUTF8(typed_.c_str());
            typed_.clear();
        }
        if (click_phase_ > 0) {
            // Follow the widget: a layout change between the request and the press (a status
            // line that appears when the model gets ready) would otherwise press beside it.
            if (auto at = visible_widget_center(click_name_)) click_pos_ = *at;
            io.MousePos = click_pos_;
            io.MouseDown[0] = click_phase_ == 2;
            if (++click_phase_ > 3) click_phase_ = 0;
        } else if (hovering_) {
            io.MousePos = hover_pos_;
        }
    }

    std::string take_screenshot() { return std::exchange(screenshot_, {}); }
    bool quit_requested() const { return quit_; }

    void type_text(const std::string& text) override {
        ui_.focus_input = true;
        typed_ = text;
        type_delay_ = 3;  // keyboard focus reaches the text box within a couple of frames
    }
    bool click(const std::string& name) override {
        if (!typed_.empty() || click_phase_ > 0) return false;
        auto at = visible_widget_center(name);
        if (!at) return false;
        click_pos_ = *at;
        click_name_ = name;
        click_phase_ = 1;
        hovering_ = false;
        return true;
    }
    void set_budget(float bits) override {
        ui_.budget = std::clamp(bits, 2.0f, 8.0f);
        worker_.set_budget(ui_.budget);
    }
    void set_option(const std::string& key, const std::string& value) override {
        auto text = [&](std::array<char, 1024>& field) {
            std::snprintf(field.data(), field.size(), "%s", value.c_str());
        };
        if (key == "quantize_out") return text(ui_.quantize_out);
        if (key == "quantize_calib") return text(ui_.quantize_calib);
        if (key == "quantize_tokens") return void(ui_.quantize_tokens = std::stoi(value));
        if (key == "eval_text") return text(ui_.eval_text);
        if (key == "eval_tokens") return void(ui_.eval_tokens = std::stoi(value));
        if (key == "quality_log_scale") return void(ui_.quality_log_y = std::stoi(value) != 0);
        if (key == "temperature")
            ui_.sampling.temperature = std::stof(value);
        else if (key == "top_k")
            ui_.sampling.top_k = uint32_t(std::stoul(value));
        else if (key == "top_p")
            ui_.sampling.top_p = std::stof(value);
        else if (key == "seed")
            ui_.seed = std::stoi(value), ui_.sampling.seed = uint64_t(ui_.seed);
        else if (key == "max_tokens")
            ui_.max_tokens = std::stoi(value);
        else
            fail(
                "unknown setting \"{}\" (temperature, top_k, top_p, seed, max_tokens, "
                "quantize_out, quantize_calib, quantize_tokens, eval_text, eval_tokens, "
                "quality_log_scale)",
                key);
        worker_.set_sampling(ui_.sampling, uint32_t(ui_.max_tokens));
    }
    bool hover_token(int index) override {
        int n = int(ui_.token_rects.size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) return false;
        hover_pos_ = center(ui_.token_rects[size_t(index)]);
        hovering_ = true;
        return true;
    }
    uint64_t tokens_generated() override {
        auto lk = worker_.lock();
        return worker_.stats().total_tokens;
    }
    bool model_ready() override {
        auto lk = worker_.lock();
        return worker_.phase() == Phase::Ready;
    }
    bool model_failed() override {
        auto lk = worker_.lock();
        return worker_.phase() == Phase::Failed;
    }
    bool generating() override {
        auto lk = worker_.lock();
        return worker_.phase() == Phase::Generating;
    }
    bool job_is(const std::string& job, const std::string& state) override {
        if (job != "quantize" && job != "eval") fail("unknown job \"{}\" (quantize, eval)", job);
        if (click_phase_ > 0) return false;  // a click that may start it is still under way
        JobStatus s = (job == "quantize" ? jobs_.quantize : jobs_.eval).status();
        const std::string now = job_state_name(s.state);
        const bool ended = s.state != JobState::Idle && s.state != JobState::Running;
        if (state == "ended") return ended;
        if (state == "progress") {
            if (ended) fail("the {} job {} before reporting progress: {}", job, now, s.error);
            return s.state == JobState::Running && s.fraction > 0;
        }
        if (state != "running" && state != "done" && state != "failed" && state != "cancelled")
            fail("unknown job state \"{}\" (running, progress, done, failed, cancelled, ended)",
                 state);
        if (ended && now != state)
            fail("the {} job ended {} instead of {}{}{}", job, now, state,
                 s.error.empty() ? "" : ": ", s.error);
        return now == state;
    }
    void screenshot(const std::string& name) override { screenshot_ = name; }
    void quit() override { quit_ = true; }

  private:
    static ImVec2 center(const WidgetRect& r) {
        return ImVec2((r.min.x + r.max.x) / 2, (r.min.y + r.max.y) / 2);
    }
    // The centre of a remembered widget drawn in the last frame (nullopt: not on screen).
    std::optional<ImVec2> visible_widget_center(const std::string& name) const {
        auto it = ui_.widgets.find(name);
        if (it == ui_.widgets.end() || it->second.frame < ui_.frame - 1) return std::nullopt;
        return center(it->second);
    }

    EngineWorker& worker_;
    ModelJobs& jobs_;
    UiState& ui_;
    std::string typed_;
    int type_delay_ = 0;
    int click_phase_ = 0;
    std::string click_name_;
    ImVec2 click_pos_, hover_pos_;
    bool hovering_ = false;
    std::string screenshot_;
    bool quit_ = false;
};

void remember_recent(UiState& ui, const std::string& path) {
    auto& r = ui.recent_models;
    r.erase(std::remove(r.begin(), r.end(), path), r.end());
    r.insert(r.begin(), path);
    if (r.size() > 8) r.resize(8);
}

void print_frame_summary(const std::vector<float>& work_ms, const std::vector<float>& build_ms,
                         int frames, double seconds) {
    if (work_ms.empty()) return;
    auto stats = [](std::vector<float> s) {
        std::sort(s.begin(), s.end());
        double mean = 0;
        for (float f : s) mean += f;
        return std::array<double, 3>{mean / double(s.size()), s[s.size() / 2],
                                     s[std::min(s.size() - 1, s.size() * 95 / 100)]};
    };
    auto w = stats(work_ms), b = stats(build_ms);
    std::fprintf(stderr,
                 "gui: %d frames in %.1f s (%.1f fps); per frame: %.2f ms mean, %.2f ms median, "
                 "%.2f ms p95 (of which building the UI: %.2f mean, %.2f median, %.2f p95; the "
                 "rest is recording, submit and present)\n",
                 frames, seconds, frames / std::max(seconds, 1e-9), w[0], w[1], w[2], b[0], b[1],
                 b[2]);
}

}  // namespace

int run_gui(const GuiOptions& o) {
    std::vector<const char*> instance_ext = init_glfw_for_vulkan();
    vk::ContextOptions co;
    co.device = o.device;
    co.validation = o.validation;
    co.instance_extensions = instance_ext;
    co.device_extensions = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
    std::unique_ptr<vk::Context> ctx;
    try {
        ctx = std::make_unique<vk::Context>(co);
    } catch (const std::exception& e) {
        glfwTerminate();
        fail("no usable Vulkan device for the window: {}", e.what());
    }
    std::unique_ptr<Script> script;
    if (!o.script.empty()) script = std::make_unique<Script>(o.script);

    int exit_code = 0;
    std::vector<float> work_ms, build_ms;
    auto t_start = Clock::now();
    int frames = 0;
    {
        VulkanWindow window(*ctx, "MoBiQuant Studio", o.width, o.height);
        glfwSetDropCallback(window.handle(), [](GLFWwindow*, int n, const char** paths) {
            for (int i = 0; i < n; ++i) g_dropped.emplace_back(paths[i]);
        });
        UiState ui;
        EngineWorker worker(*ctx);
        ModelJobs jobs(*ctx);  // after the worker: its jobs are cancelled and joined first
        if (!o.log.empty()) worker.set_log(o.log);
        worker.set_sampling(ui.sampling, uint32_t(ui.max_tokens));
        worker.set_budget(ui.budget);
        std::string model = o.model.empty() ? app::default_model_path().string() : o.model;
        std::snprintf(ui.model_path.data(), ui.model_path.size(), "%s", model.c_str());
        remember_recent(ui, model);
        worker.open(model);
        App app(worker, jobs, ui);

        // A steady rate, not one frame per token; on a CPU device (lavapipe) every frame costs
        // the engine CPU time, so --fps trades smoothness for tokens/s there.
        auto last_activity = Clock::now();
        double last_x = -1, last_y = -1;
        auto input_seen = [&] {
            double x, y;
            glfwGetCursorPos(window.handle(), &x, &y);
            bool seen = x != last_x || y != last_y || !g_dropped.empty();
            last_x = x;
            last_y = y;
            const ImGuiIO& io = ImGui::GetIO();
            seen |= io.InputQueueCharacters.Size > 0 || io.MouseWheel != 0 || io.MouseWheelH != 0;
            for (bool k : io.KeysDown) seen |= k;
            for (int b = 0; b < 3; ++b)
                seen |= glfwGetMouseButton(window.handle(), b) == GLFW_PRESS;
            return seen;
        };
        const auto frame_period = std::chrono::microseconds(1000000 / std::clamp(o.fps, 1, 240));
        while (!window.should_close() && !app.quit_requested()) {
            auto t0 = Clock::now();
            glfwPollEvents();
            window.new_frame();
            app.inject_input();
            ImGui::NewFrame();
            draw_app(worker, jobs, ui);
            ImGui::Render();
            build_ms.push_back(std::chrono::duration<float, std::milli>(Clock::now() - t0).count());
            window.render(ImGui::GetDrawData());
            float ms = std::chrono::duration<float, std::milli>(Clock::now() - t0).count();
            work_ms.push_back(ms);
            ui.frame_ms.push_back(ms);
            if (ui.frame_ms.size() > 60) ui.frame_ms.pop_front();
            if (std::string shot = app.take_screenshot(); !shot.empty()) {
                auto path = std::filesystem::path(o.screenshot_dir) / (shot + ".png");
                window.save_png(ImGui::GetDrawData(), path);
                std::fprintf(stderr, "gui: screenshot %s\n", path.c_str());
            }
            ++ui.frame;
            ++frames;
            if (script) {
                try {
                    script->tick(app);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "error: script: %s\n", e.what());
                    exit_code = 2;
                    break;
                }
            }
            if (o.frames > 0 && frames >= o.frames) break;
            for (auto& p : g_dropped) ui.open_request = p;
            g_dropped.clear();
            if (!ui.open_request.empty() && !jobs.eval.running()) {
                std::snprintf(ui.model_path.data(), ui.model_path.size(), "%s",
                              ui.open_request.c_str());
                remember_recent(ui, ui.open_request);
                worker.open(ui.open_request);
                ui.open_request.clear();
            }
            // Idle (no input, nothing loading or generating, no script) for a second: redraw at
            // 4 Hz until input arrives, so an idle window costs (almost) no CPU. Input is polled:
            // the X server also wakes us for presents, which are not activity.
            bool busy = script || app.generating() || worker.phase_is_loading() ||
                        jobs.quantize.running() || jobs.eval.running() || input_seen();
            if (busy) last_activity = Clock::now();
            bool idle = Clock::now() - last_activity > std::chrono::seconds(1);
            auto next = t0 + (idle ? std::chrono::microseconds(250000) : frame_period);
            while (Clock::now() < next && !window.should_close()) {
                glfwWaitEventsTimeout(std::chrono::duration<double>(next - Clock::now()).count() +
                                      1e-4);
                if (idle && input_seen()) {
                    last_activity = Clock::now();
                    break;
                }
            }
        }
        if (script && !script->done() && exit_code == 0 && !app.quit_requested()) {
            std::fprintf(stderr, "error: the window closed before the script finished\n");
            exit_code = 2;
        }
        {
            auto lk = worker.lock();
            const LiveStats& s = worker.stats();
            std::fprintf(stderr,
                         "gui: %llu tokens generated; last reply: prompt %.1f tok/s, generation "
                         "%.1f tok/s\n",
                         (unsigned long long)s.total_tokens, s.prefill_tps, s.decode_tps);
        }
    }
    print_frame_summary(work_ms, build_ms, frames,
                        std::chrono::duration<double>(Clock::now() - t_start).count());
    if (ctx->validation_enabled()) {
        auto msgs = ctx->validation_messages();
        std::fprintf(stderr, "gui: %zu validation messages\n", msgs.size());
        for (auto& m : msgs) std::fprintf(stderr, "  %s\n", m.c_str());
        if (!msgs.empty() && exit_code == 0) exit_code = 3;
    }
    return exit_code;
}

}  // namespace mq::gui
