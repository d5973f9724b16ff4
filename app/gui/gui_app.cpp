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
#include "runtime/device_choice.hpp"

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
        ui_.speed_mode = false;
        worker_.set_budget(ui_.budget);
    }
    void set_speed_target(float tokens_per_second) override {
        ui_.speed_target = std::clamp(tokens_per_second, 1.0f, 500.0f);
        ui_.speed_mode = true;
        worker_.set_speed_target(ui_.speed_target);
    }
    bool click_token(int index) override {
        if (!typed_.empty() || click_phase_ > 0) return false;
        int n = int(ui_.token_rects.size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) return false;
        click_pos_ = center(ui_.token_rects[size_t(index)]);
        click_name_.clear();  // a position, not a remembered widget
        click_phase_ = 1;
        hovering_ = false;
        return true;
    }
    bool hover(const std::string& name) override {
        auto at = visible_widget_center(name);
        if (!at) return false;
        hover_pos_ = *at;
        hovering_ = true;
        return true;
    }
    bool what_if_ready() override {
        if (click_phase_ > 0) return false;  // the click that asks for it is under way
        auto lk = worker_.lock();
        const WhatIfView& w = worker_.what_if();
        if (!w.error.empty()) fail("the what-if view failed: {}", w.error);
        return w.serial > 0 && !w.pending && !w.result.rows.empty();
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
        if (key == "server_port") return void(ui_.server_port = std::stoi(value));
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
                "quality_log_scale, server_port)",
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

// The window's context, made with what it needs (GLFW's surface extensions, swapchain). Models
// run on it too unless the CPU backend was chosen; then it only draws, on the preferred Vulkan
// device.
std::unique_ptr<vk::Context> make_window_context(const GuiOptions& o,
                                                 const rt::DeviceChoice& choice) {
    std::vector<const char*> instance_ext = init_glfw_for_vulkan();
    vk::ContextOptions co;
    co.device = choice.cpu ? "" : choice.vulkan_device;
    if (choice.cpu)  // not $MOBIQUANT_DEVICE, which may say "cpu"
        co.device = rt::choose_device("vulkan").vulkan_device;
    co.validation = o.validation;
    co.instance_extensions = instance_ext;
    co.device_extensions = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
    try {
        return std::make_unique<vk::Context>(co);
    } catch (const std::exception& e) {
        glfwTerminate();
        fail("no usable Vulkan device for the window: {}", e.what());
    }
}

// Whether the user did anything since the last call: mouse moves and buttons, keys, typed
// characters, wheel, dropped files. Polled: the X server also wakes us for presents, which are
// not activity.
class InputWatch {
  public:
    explicit InputWatch(GLFWwindow* window) : window_(window) {}
    bool seen() {
        double x, y;
        glfwGetCursorPos(window_, &x, &y);
        bool seen = x != last_x_ || y != last_y_ || !g_dropped.empty();
        last_x_ = x;
        last_y_ = y;
        const ImGuiIO& io = ImGui::GetIO();
        seen |= io.InputQueueCharacters.Size > 0 || io.MouseWheel != 0 || io.MouseWheelH != 0;
        for (bool k : io.KeysDown) seen |= k;
        for (int b = 0; b < 3; ++b) seen |= glfwGetMouseButton(window_, b) == GLFW_PRESS;
        return seen;
    }

  private:
    GLFWwindow* window_;
    double last_x_ = -1, last_y_ = -1;
};

struct FrameTimes {
    std::vector<float> work_ms, build_ms;
    int frames = 0;
};

// Everything one run of the window holds, and the frame loop.
class Session {
  public:
    Session(const GuiOptions& o, vk::Context& ctx, const rt::ComputeDevice& compute, Script* script)
        : o_(o),
          script_(script),
          window_(ctx, "MoBiQuant Studio", o.width, o.height),
          worker_(compute),
          jobs_(compute),  // after the worker: its jobs are cancelled and joined first
          app_(worker_, jobs_, ui_),
          input_(window_.handle()) {
        glfwSetDropCallback(window_.handle(), [](GLFWwindow*, int n, const char** paths) {
            for (int i = 0; i < n; ++i) g_dropped.emplace_back(paths[i]);
        });
        if (!o.log.empty()) worker_.set_log(o.log);
        worker_.set_sampling(ui_.sampling, uint32_t(ui_.max_tokens));
        worker_.set_budget(ui_.budget);
        open(o.model.empty() ? app::default_model_path().string() : o.model);
    }

    // Runs frames until the window closes, the script quits or fails, or --frames is reached.
    // Returns the exit code (0, or 2 when the script failed).
    int run(FrameTimes& times) {
        // A steady rate, not one frame per token; on a CPU device (lavapipe) every frame costs
        // the engine CPU time, so --fps trades smoothness for tokens/s there.
        const auto period = std::chrono::microseconds(1000000 / std::clamp(o_.fps, 1, 240));
        while (!window_.should_close() && !app_.quit_requested()) {
            const auto t0 = Clock::now();
            draw_frame(times);
            if (script_) {
                try {
                    script_->tick(app_);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "error: script: %s\n", e.what());
                    return 2;
                }
            }
            if (o_.frames > 0 && times.frames >= o_.frames) break;
            open_requested_model();
            wait_for_next_frame(t0, period);
        }
        if (script_ && !script_->done() && !app_.quit_requested()) {
            std::fprintf(stderr, "error: the window closed before the script finished\n");
            return 2;
        }
        return 0;
    }

    void print_generation_summary() {
        auto lk = worker_.lock();
        const LiveStats& s = worker_.stats();
        std::fprintf(stderr,
                     "gui: %llu tokens generated; last reply: prompt %.1f tok/s, generation "
                     "%.1f tok/s\n",
                     (unsigned long long)s.total_tokens, s.prefill_tps, s.decode_tps);
    }

  private:
    void open(const std::string& model) {
        std::snprintf(ui_.model_path.data(), ui_.model_path.size(), "%s", model.c_str());
        remember_recent(ui_, model);
        worker_.open(model);
    }

    // Builds the UI, renders and presents it, and saves a screenshot when the script asked.
    void draw_frame(FrameTimes& times) {
        const auto t0 = Clock::now();
        glfwPollEvents();
        window_.new_frame();
        app_.inject_input();
        ImGui::NewFrame();
        draw_app(worker_, jobs_, ui_);
        ImGui::Render();
        times.build_ms.push_back(
            std::chrono::duration<float, std::milli>(Clock::now() - t0).count());
        window_.render(ImGui::GetDrawData());
        float ms = std::chrono::duration<float, std::milli>(Clock::now() - t0).count();
        times.work_ms.push_back(ms);
        ui_.frame_ms.push_back(ms);
        if (ui_.frame_ms.size() > 60) ui_.frame_ms.pop_front();
        if (std::string shot = app_.take_screenshot(); !shot.empty()) {
            auto path = std::filesystem::path(o_.screenshot_dir) / (shot + ".png");
            window_.save_png(ImGui::GetDrawData(), path);
            std::fprintf(stderr, "gui: screenshot %s\n", path.c_str());
        }
        ++ui_.frame;
        ++times.frames;
    }

    // A file dropped on the window or chosen in the Models panel (not while eval holds the
    // device).
    void open_requested_model() {
        for (auto& p : g_dropped) ui_.open_request = p;
        g_dropped.clear();
        if (!ui_.open_request.empty() && !jobs_.eval.running()) {
            open(ui_.open_request);
            ui_.open_request.clear();
        }
    }

    // Idle (no input, nothing loading or generating, no script) for a second: redraw at 4 Hz
    // until input arrives, so an idle window costs (almost) no CPU.
    void wait_for_next_frame(Clock::time_point t0, std::chrono::microseconds period) {
        bool busy = script_ || app_.generating() || worker_.phase_is_loading() ||
                    jobs_.quantize.running() || jobs_.eval.running() || input_.seen();
        if (busy) last_activity_ = Clock::now();
        bool idle = Clock::now() - last_activity_ > std::chrono::seconds(1);
        auto next = t0 + (idle ? std::chrono::microseconds(250000) : period);
        while (Clock::now() < next && !window_.should_close()) {
            // Measured again after the loop's test: a descheduled thread may already be past
            // `next`, and GLFW asserts on a negative timeout.
            const double left = std::chrono::duration<double>(next - Clock::now()).count();
            glfwWaitEventsTimeout(std::max(left, 0.0) + 1e-4);
            if (idle && input_.seen()) {
                last_activity_ = Clock::now();
                break;
            }
        }
    }

    const GuiOptions& o_;
    Script* script_;
    VulkanWindow window_;
    UiState ui_;
    EngineWorker worker_;
    ModelJobs jobs_;
    App app_;
    InputWatch input_;
    Clock::time_point last_activity_ = Clock::now();
};

// The validation layer's messages; a run that produced any exits with 3.
int with_validation_result(const vk::Context& ctx, int exit_code) {
    if (!ctx.validation_enabled()) return exit_code;
    auto msgs = ctx.validation_messages();
    std::fprintf(stderr, "gui: %zu validation messages\n", msgs.size());
    for (auto& m : msgs) std::fprintf(stderr, "  %s\n", m.c_str());
    return !msgs.empty() && exit_code == 0 ? 3 : exit_code;
}

}  // namespace

int run_gui(const GuiOptions& o) {
    const rt::DeviceChoice choice = rt::choose_device(o.device);
    std::unique_ptr<vk::Context> ctx = make_window_context(o, choice);
    const rt::ComputeDevice compute =
        choice.cpu ? rt::ComputeDevice::cpu(0) : rt::ComputeDevice(*ctx);
    std::unique_ptr<Script> script;
    if (!o.script.empty()) script = std::make_unique<Script>(o.script);

    FrameTimes times;
    const auto t_start = Clock::now();
    int exit_code = 0;
    {
        Session session(o, *ctx, compute, script.get());
        exit_code = session.run(times);
        session.print_generation_summary();
    }
    print_frame_summary(times.work_ms, times.build_ms, times.frames,
                        std::chrono::duration<double>(Clock::now() - t_start).count());
    return with_validation_result(*ctx, exit_code);
}

}  // namespace mq::gui
