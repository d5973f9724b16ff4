#include "gui/engine_worker.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "common/bundled_assets.hpp"
#include "core/error.hpp"
#include "runtime/chat_window.hpp"
#include "runtime/whatif.hpp"

namespace mq::gui {

namespace {

uint64_t parameter_count(const ModelDesc& d) {
    uint64_t per_layer = uint64_t(d.dim) * d.q_dim() * 2 + uint64_t(d.dim) * d.kv_dim() * 2 +
                         uint64_t(d.dim) * d.ffn_dim * 3 + 2ull * d.dim;
    uint64_t embed = uint64_t(d.vocab_size) * d.dim * (d.tied_output ? 1 : 2);
    return embed + per_layer * d.n_layers + d.dim;
}

}  // namespace

EngineWorker::EngineWorker(const rt::ComputeDevice& device)
    : device_(device), thread_([this] { loop(); }) {}

EngineWorker::~EngineWorker() {
    stop();
    {
        std::lock_guard lk(jobs_mutex_);
        quit_ = true;
        jobs_.clear();
    }
    jobs_cv_.notify_all();
    thread_.join();
    generator_.reset();
    session_.reset();
}

void EngineWorker::post(std::function<void()> job) {
    {
        std::lock_guard lk(jobs_mutex_);
        jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
}

void EngineWorker::loop() {
    while (true) {
        std::function<void()> job;
        {
            std::unique_lock lk(jobs_mutex_);
            jobs_cv_.wait(lk, [&] { return quit_ || !jobs_.empty(); });
            if (quit_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

void EngineWorker::open(const std::filesystem::path& path) {
    {
        std::lock_guard lk(mutex_);
        if (phase_ == Phase::Loading || phase_ == Phase::Generating) return;
        phase_ = Phase::Loading;
        status_ = "opening " + path.string();
        error_.clear();
    }
    post([this, path] { load(path); });
}

void EngineWorker::load(const std::filesystem::path& path) {
    {
        std::lock_guard g(generator_mutex_);
        generator_.reset();
    }
    session_.reset();
    try {
        if (!std::filesystem::exists(path))
            fail(
                "model {} not found (the default: {}; open another file in the Models panel or "
                "start with --model)",
                path.string(), app::kDefaultModelText);
        rt::SessionOptions so;
        // Sliced weights make depths and bits meaningful, so the budget slider works.
        so.slice_plain_model = true;
        so.progress = [this](const std::string& s) {
            std::lock_guard lk(mutex_);
            status_ = s;
        };
        auto session = std::make_unique<rt::ModelSession>(device_, path, so);
        ModelInfo info;
        const ModelDesc& d = session->desc();
        info.path = path.string();
        info.name = d.name.empty() ? path.filename().string() : d.name;
        info.arch = d.arch;
        info.source = d.source;
        info.template_family = tok::chat_family_name(session->chat_template().family());
        info.device = device_.name();
        info.vocab = d.vocab_size;
        info.dim = d.dim;
        info.n_layers = d.n_layers;
        info.n_heads = d.n_heads;
        info.n_kv_heads = d.n_kv_heads;
        info.ffn = d.ffn_dim;
        info.context = session->forward().max_context();
        info.parameters = parameter_count(d);
        info.quantized = session->quantized();
        info.mobiquant_checkpoint = d.mobiquant;
        info.routed = session->routers() != nullptr;
        for (uint32_t depth = 1; depth <= 4; ++depth)
            info.weight_bytes[depth] = session->forward().weight_bytes_per_token(depth);
        float budget, speed;
        {
            std::lock_guard lk(mutex_);
            budget = budget_;
            speed = speed_target_;
        }
        auto gen = std::make_unique<rt::Generator>(*session, rt::DepthPolicy::budget(budget));
        if (speed > 0 && session->quantized()) gen->set_speed_target(speed);
        session_ = std::move(session);
        {
            std::lock_guard g(generator_mutex_);
            generator_ = std::move(gen);
        }
        std::lock_guard lk(mutex_);
        info_ = info;
        turns_.clear();
        bits_history_.clear();
        trace_.clear();
        what_if_ = WhatIfView{};
        stats_ = LiveStats{};
        phase_ = Phase::Ready;
        status_ = "ready";
        std::fprintf(stderr, "gui: model ready: %s (%s, %u layers, chat template %s, %s) on %s\n",
                     info_.name.c_str(), info_.arch.c_str(), info_.n_layers,
                     info_.template_family.c_str(),
                     info_.mobiquant_checkpoint ? "MoBiQuant checkpoint" : "plain model",
                     info_.device.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gui: model failed: %s\n", e.what());
        std::lock_guard lk(mutex_);
        info_ = ModelInfo{};
        info_.path = path.string();
        info_.device = device_.name();
        phase_ = Phase::Failed;
        error_ = e.what();
        status_ = "the model could not be opened";
    }
}

bool EngineWorker::send(const std::string& user_text) {
    {
        std::lock_guard lk(mutex_);
        if (phase_ != Phase::Ready || user_text.empty()) return false;
        turns_.push_back({"user", user_text, {}});
        turns_.push_back({"assistant", "", {}});
        phase_ = Phase::Generating;
        status_ = "reading the prompt";
    }
    post([this] { generate(); });
    return true;
}

bool EngineWorker::regenerate() {
    {
        std::lock_guard lk(mutex_);
        if (phase_ != Phase::Ready || turns_.size() < 2 || turns_.back().role != "assistant")
            return false;
        turns_.back() = {"assistant", "", {}};
        if (what_if_.turn + 1 == turns_.size()) forget_what_if();  // about the replaced reply
        phase_ = Phase::Generating;
        status_ = "reading the prompt";
    }
    post([this] { generate(); });
    return true;
}

void EngineWorker::reset_chat() {
    std::lock_guard lk(mutex_);
    if (phase_ != Phase::Ready) return;
    turns_.clear();
    forget_what_if();
    stats_.context_used = 0;
    stats_.first_turn_in_context = 0;
    stats_.context_note.clear();
    // The KV cache keeps its prefix; the next prompt simply shares less of it.
}

void EngineWorker::stop() {
    std::lock_guard g(generator_mutex_);
    if (generator_) generator_->cancel();
}

void EngineWorker::set_budget(float bits) {
    bits = std::clamp(bits, 2.0f, 8.0f);
    {
        std::lock_guard lk(mutex_);
        budget_ = bits;
        speed_target_ = 0;
    }
    std::lock_guard g(generator_mutex_);
    if (generator_) generator_->set_policy(rt::DepthPolicy::budget(bits));
}

void EngineWorker::set_speed_target(float tokens_per_second) {
    std::lock_guard g(generator_mutex_);
    std::lock_guard lk(mutex_);
    try {
        if (generator_) generator_->set_speed_target(tokens_per_second);
        speed_target_ = tokens_per_second;
    } catch (const std::exception& e) {  // an unquantized model has no budget to move
        status_ = e.what();
    }
}

void EngineWorker::forget_what_if() {
    // A pending computation still lands, but on a view that says what it is about again.
    const uint64_t serial = what_if_.serial;
    what_if_ = WhatIfView{};
    what_if_.serial = serial;
    what_if_.turn = what_if_.token = SIZE_MAX;
}

bool EngineWorker::request_what_if(size_t turn, size_t token) {
    std::vector<uint32_t> sequence;
    uint32_t at;
    {
        std::lock_guard lk(mutex_);
        if (phase_ != Phase::Ready && phase_ != Phase::Generating) return false;
        if (turn >= turns_.size() || token >= turns_[turn].tokens.size()) return false;
        const Turn& t = turns_[turn];
        sequence = t.prompt;
        for (size_t i = 0; i <= token; ++i) sequence.push_back(t.tokens[i].id);
        at = static_cast<uint32_t>(t.prompt.size() + token);
        std::string before;
        for (size_t i = 0; i < token; ++i) before += t.tokens[i].text;
        if (before.size() > 60) {  // the end, starting at a character boundary
            size_t cut = before.size() - 60;
            while (cut < before.size() && (before[cut] & 0xC0) == 0x80) ++cut;
            before = "..." + before.substr(cut);
        }
        what_if_.pending = true;
        what_if_.error.clear();
        what_if_.result = {};
        what_if_.context_tail = before;
        what_if_.token_text = t.tokens[token].text;
        what_if_.serial++;
        what_if_.turn = turn;
        what_if_.token = token;
    }
    post([this, sequence = std::move(sequence), at]() mutable {
        run_what_if(std::move(sequence), at);
    });
    return true;
}

void EngineWorker::run_what_if(std::vector<uint32_t> sequence, uint32_t at) {
    try {
        rt::WhatIfResult r = rt::what_if(*generator_, sequence, at);
        std::lock_guard lk(mutex_);
        if (log_.is_open()) {
            nlohmann::json rows = nlohmann::json::array();
            for (const auto& row : r.rows)
                rows.push_back({{"label", row.label},
                                {"bits", row.bits},
                                {"kl", row.kl},
                                {"top", row.top.empty() ? -1 : int64_t(row.top[0].id)}});
            log_ << nlohmann::json{{"whatif", {{"at", r.at}, {"rows", rows}}}}.dump() << '\n';
            log_.flush();
        }
        what_if_.result = std::move(r);
        what_if_.pending = false;
    } catch (const std::exception& e) {
        std::lock_guard lk(mutex_);
        what_if_.pending = false;
        what_if_.error = e.what();
    }
}

void EngineWorker::set_sampling(const rt::SamplerOptions& options, uint32_t max_tokens) {
    std::lock_guard lk(mutex_);
    sampling_ = options;
    max_tokens_ = max_tokens;
}

void EngineWorker::set_log(const std::filesystem::path& path) {
    std::lock_guard lk(mutex_);
    log_.open(path, std::ios::out | std::ios::trunc);
    if (!log_) fail("cannot write the token log {}", path.string());
}

void EngineWorker::generate() {
    std::vector<tok::ChatMessage> messages;
    rt::SamplerOptions sampling;
    uint32_t max_tokens;
    {
        std::lock_guard lk(mutex_);
        for (size_t i = stats_.first_turn_in_context; i + 1 < turns_.size(); ++i)
            messages.push_back({turns_[i].role, turns_[i].text});
        sampling = sampling_;
        max_tokens = max_tokens_;
    }
    try {
        const auto& tokenizer = session_->tokenizer();
        // A turn that does not fit drops the oldest ones (the conversation goes on).
        rt::ChatFit fit = rt::fit_chat(session_->chat_template(), tokenizer, messages,
                                       session_->forward().max_context(), max_tokens);
        {
            std::lock_guard lk(mutex_);
            if (fit.dropped) {
                stats_.first_turn_in_context += fit.dropped;
                stats_.context_note = fmt::format(
                    "The conversation outgrew the context of {} tokens: the model no longer "
                    "sees the {} oldest turns (dimmed).",
                    session_->forward().max_context(), stats_.first_turn_in_context);
                std::fprintf(stderr, "gui: context: dropped %zu messages\n", fit.dropped);
            }
            turns_.back().prompt.assign(fit.prompt.begin(), fit.prompt.end());
            recent_token_times_.clear();
        }
        auto t0 = std::chrono::steady_clock::now();
        rt::GenerationStats s =
            generator_->generate(fit.prompt, fit.max_reply, sampling,
                                 [&](const rt::TokenEvent& ev) { on_token(ev, t0); });
        std::lock_guard lk(mutex_);
        stats_.prefill_tps = s.prefill_tps();
        stats_.decode_tps = s.decode_tps();
        stats_.prompt_tokens = s.prompt_tokens;
        stats_.reused_tokens = s.reused_tokens;
        stats_.generated = s.generated;
        stats_.stop_reason = s.stop_reason;
        stats_.context_used = static_cast<uint32_t>(generator_->cached_tokens().size());
        phase_ = Phase::Ready;
        status_ = "ready (stopped: " + s.stop_reason + ")";
    } catch (const std::exception& e) {
        std::lock_guard lk(mutex_);
        phase_ = Phase::Ready;
        status_ = std::string("generation failed: ") + e.what();
        if (!turns_.empty() && turns_.back().tokens.empty()) {
            turns_.pop_back();  // the empty reply
            if (!turns_.empty() && turns_.back().role == "user") turns_.pop_back();
        }
    }
    if (log_.is_open()) log_.flush();
}

void EngineWorker::on_token(const rt::TokenEvent& ev, std::chrono::steady_clock::time_point t0) {
    const auto& tokenizer = session_->tokenizer();
    bool end = tokenizer.is_end_of_generation(static_cast<int32_t>(ev.id));
    TokenView view;
    view.id = ev.id;
    view.text = end ? std::string() : ev.text;
    view.bits = ev.bits;
    view.logprob = ev.logprob;
    view.depths = ev.depths;
    tok::DecodeOptions dopt;
    dopt.skip_special = false;  // show <0x..> and </s> alternatives as such
    dopt.strip_leading_space = false;
    for (auto& [id, lp] : ev.top) {
        int32_t one = int32_t(id);
        // Decoded as text (SentencePiece's \u2581 becomes a space); a byte piece stays visible.
        std::string text = tokenizer.decode(std::span<const int32_t>(&one, 1), dopt);
        if (text.empty()) text = tokenizer.token_text(one);
        view.top.emplace_back(std::move(text), lp);
    }
    const auto speed_state = generator_->speed_state();
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lk(mutex_);
    view.target_bits = ev.budget > 0 ? ev.budget : budget_;
    // Tokens/s over the last 8 tokens of this reply (its first token follows the prompt).
    recent_token_times_.push_back(now);
    if (recent_token_times_.size() > 9) recent_token_times_.pop_front();
    TokenTrace point{ev.bits, view.target_bits, 0.0f};
    if (recent_token_times_.size() > 1) {
        double span = std::chrono::duration<double>(now - recent_token_times_.front()).count();
        if (span > 0) point.tps = float((recent_token_times_.size() - 1) / span);
    }
    trace_.push_back(point);
    if (trace_.size() > 4000) trace_.erase(trace_.begin(), trace_.begin() + 2000);
    stats_.speed_state = speed_state ? rt::speed_state_name(*speed_state) : "";
    if (log_.is_open()) {
        nlohmann::json j{{"n", stats_.total_tokens},
                         {"id", ev.id},
                         {"text", ev.text},
                         {"bits", ev.bits},
                         {"target", view.target_bits},
                         {"logprob", ev.logprob},
                         {"t", std::chrono::duration<double>(now - t0).count()},
                         {"turn", turns_.empty() ? 0 : turns_.size() - 1}};
        if (speed_target_ > 0) j["target_tps"] = speed_target_;
        if (!stats_.speed_state.empty()) j["speed_state"] = stats_.speed_state;
        log_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        log_.flush();
    }
    if (!turns_.empty()) {
        Turn& t = turns_.back();
        if (t.tokens.empty()) first_token_ = now;
        t.text += view.text;
        t.tokens.push_back(std::move(view));
    }
    bits_history_.push_back(ev.bits);
    if (bits_history_.size() > 4000)
        bits_history_.erase(bits_history_.begin(), bits_history_.begin() + 2000);
    stats_.total_tokens++;
    stats_.context_used = ev.position + 1;
    stats_.generated = static_cast<uint32_t>(turns_.empty() ? 0 : turns_.back().tokens.size());
    double secs = std::chrono::duration<double>(now - first_token_).count();
    if (secs > 0 && stats_.generated > 1) stats_.decode_tps = (stats_.generated - 1) / secs;
    status_ = "generating";
}

}  // namespace mq::gui
