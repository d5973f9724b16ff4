#pragma once
// Scripted UI sessions for tests and demos (--script FILE). One action per line, run in order;
// '#' starts a comment:
//   wait SECONDS          sleep (the UI keeps drawing)
//   wait_model            until the model has loaded (fails if loading failed)
//   type TEXT             focus the message box and type TEXT through ImGui's keyboard input
//   click NAME            press a button with the mouse: send, stop, regenerate, new_chat, open,
//                         tab_routing, tab_quality, tab_sampling, tab_models, quantize,
//                         cancel_quantize, open_quantized, run_eval, cancel_eval
//   slider BITS           set the budget slider (as dragging it would) to BITS
//   speed TPS             switch the slider to tokens/s and set the target to TPS
//   set KEY VALUE         temperature, top_k, top_p, seed, max_tokens, quantize_out,
//                         quantize_calib, quantize_tokens, eval_text, eval_tokens,
//                         quality_log_scale (0/1)
//   wait_tokens N         until N tokens have been generated in total
//   wait_idle             until no reply is being generated
//   hover_token K         put the mouse on generated token K (negative: from the end)
//   click_token K         click generated token K (opens its what-if view)
//   hover NAME            put the mouse on a widget's centre: heatmap, whatif_table, or a
//                         name `click` takes
//   wait_whatif           until the what-if view has its table (fails if it failed)
//   wait_job JOB STATE    JOB quantize|eval; STATE running, progress (a fraction > 0 reported),
//                         done, failed, cancelled or ended (any of the last three)
//   screenshot NAME       write NAME.png into the screenshot folder
//   quit                  close the window
// Each wait gives up after `timeout SECONDS` (default 60), which fails the run.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mq::gui {

// What the script drives; implemented by the app.
class ScriptTarget {
  public:
    virtual ~ScriptTarget() = default;
    virtual void type_text(const std::string& text) = 0;
    virtual bool click(const std::string& widget) = 0;  // false while it is not on screen
    virtual void set_budget(float bits) = 0;
    virtual void set_option(const std::string& key, const std::string& value) = 0;
    virtual bool hover_token(int index) = 0;
    virtual void set_speed_target(float tokens_per_second) = 0;
    virtual bool click_token(int index) = 0;            // false while it is not on screen
    virtual bool hover(const std::string& widget) = 0;  // false while it is not on screen
    // Whether the what-if table is there; throws mq::Error when the what-if failed.
    virtual bool what_if_ready() = 0;
    virtual uint64_t tokens_generated() = 0;
    virtual bool model_ready() = 0;  // loaded and idle
    virtual bool model_failed() = 0;
    virtual bool generating() = 0;
    // Whether the background job is in that state (see wait_job); throws mq::Error when it ended
    // otherwise than asked (a failed job's message).
    virtual bool job_is(const std::string& job, const std::string& state) = 0;
    virtual void screenshot(const std::string& name) = 0;  // after this frame is drawn
    virtual void quit() = 0;
};

class Script {
  public:
    explicit Script(const std::filesystem::path& file);  // throws mq::Error on a bad line
    // Advances as far as it can this frame. Throws mq::Error when an action fails or times out.
    void tick(ScriptTarget& target);
    bool done() const { return pc_ >= lines_.size(); }

  private:
    struct Line {
        int number;
        std::string verb, arg;
    };
    std::vector<Line> lines_;
    size_t pc_ = 0;
    std::chrono::steady_clock::time_point started_{};
    bool started_valid_ = false;
    double timeout_ = 60;
    std::filesystem::path file_;
};

}  // namespace mq::gui
