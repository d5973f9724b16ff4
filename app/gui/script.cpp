#include "gui/script.hpp"

#include <fstream>
#include <set>

#include "core/error.hpp"

namespace mq::gui {

namespace {
const std::set<std::string> kVerbs = {
    "wait",        "wait_model", "type",        "click",       "slider", "set",
    "wait_tokens", "wait_idle",  "hover_token", "screenshot",  "quit",   "timeout",
    "wait_job",    "speed",      "click_token", "wait_whatif", "hover"};
}

Script::Script(const std::filesystem::path& file) : file_(file) {
    std::ifstream in(file);
    if (!in) fail("cannot read the script {}", file.string());
    std::string text;
    int number = 0;
    while (std::getline(in, text)) {
        ++number;
        size_t b = text.find_first_not_of(" \t\r");
        if (b == std::string::npos || text[b] == '#') continue;
        text = text.substr(b);
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
        size_t sp = text.find(' ');
        Line line{number, text.substr(0, sp), sp == std::string::npos ? "" : text.substr(sp + 1)};
        if (!kVerbs.count(line.verb))
            fail("{}:{}: unknown script action \"{}\"", file.string(), number, line.verb);
        lines_.push_back(std::move(line));
    }
}

void Script::tick(ScriptTarget& t) {
    auto now = std::chrono::steady_clock::now();
    while (pc_ < lines_.size()) {
        const Line& l = lines_[pc_];
        if (!started_valid_) {
            started_ = now;
            started_valid_ = true;
        }
        double elapsed = std::chrono::duration<double>(now - started_).count();
        auto waiting = [&](bool done_yet) {
            if (done_yet) return false;
            if (elapsed > timeout_)
                fail("{}:{}: \"{} {}\" timed out after {:.0f} s", file_.string(), l.number, l.verb,
                     l.arg, timeout_);
            return true;
        };
        bool done = true;
        try {
            if (l.verb == "wait")
                done = elapsed >= std::stod(l.arg);
            else if (l.verb == "timeout")
                timeout_ = std::stod(l.arg);
            else if (l.verb == "wait_model") {
                if (t.model_failed())
                    fail("{}:{}: the model failed to load", file_.string(), l.number);
                done = !waiting(t.model_ready());
            } else if (l.verb == "type")
                t.type_text(l.arg);
            else if (l.verb == "click")
                done = !waiting(t.click(l.arg));
            else if (l.verb == "slider")
                t.set_budget(std::stof(l.arg));
            else if (l.verb == "speed")
                t.set_speed_target(std::stof(l.arg));
            else if (l.verb == "click_token")
                done = !waiting(t.click_token(std::stoi(l.arg)));
            else if (l.verb == "hover")
                done = !waiting(t.hover(l.arg));
            else if (l.verb == "wait_whatif")
                done = !waiting(t.what_if_ready());
            else if (l.verb == "set") {
                size_t sp = l.arg.find(' ');
                if (sp == std::string::npos) fail("{}:{}: set KEY VALUE", file_.string(), l.number);
                t.set_option(l.arg.substr(0, sp), l.arg.substr(sp + 1));
            } else if (l.verb == "wait_tokens")
                done = !waiting(t.tokens_generated() >= std::stoull(l.arg));
            else if (l.verb == "wait_idle")
                done = !waiting(!t.generating());
            else if (l.verb == "wait_job") {
                size_t sp = l.arg.find(' ');
                if (sp == std::string::npos)
                    fail("{}:{}: wait_job JOB STATE", file_.string(), l.number);
                done = !waiting(t.job_is(l.arg.substr(0, sp), l.arg.substr(sp + 1)));
            } else if (l.verb == "hover_token")
                done = !waiting(t.hover_token(std::stoi(l.arg)));
            else if (l.verb == "screenshot")
                t.screenshot(l.arg);
            else if (l.verb == "quit")
                t.quit();
        } catch (const std::invalid_argument&) {
            fail("{}:{}: \"{}\" needs a number, got \"{}\"", file_.string(), l.number, l.verb,
                 l.arg);
        }
        if (!done) return;
        ++pc_;
        started_valid_ = false;
        // Actions that act through the UI take effect on the next frame: one per frame.
        if (l.verb == "type" || l.verb == "click" || l.verb == "slider" || l.verb == "speed" ||
            l.verb == "hover_token" || l.verb == "click_token" || l.verb == "hover" ||
            l.verb == "screenshot" || l.verb == "quit")
            return;
    }
}

}  // namespace mq::gui
