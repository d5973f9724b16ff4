#include "gui/engine_worker.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

#include "core/error.hpp"

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
                "model {} not found (the default model is assets/default-model.gguf; open another "
                "file in the Models panel or start with --model)",
                path.string());
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
        float budget;
        {
            std::lock_guard lk(mutex_);
            budget = budget_;
        }
        auto gen = std::make_unique<rt::Generator>(*session, rt::DepthPolicy::budget(budget));
        session_ = std::move(session);
        {
            std::lock_guard g(generator_mutex_);
            generator_ = std::move(gen);
        }
        std::lock_guard lk(mutex_);
        info_ = info;
        turns_.clear();
        bits_history_.clear();
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
    stats_.context_used = 0;
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
    }
    std::lock_guard g(generator_mutex_);
    if (generator_) generator_->set_policy(rt::DepthPolicy::budget(bits));
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
        for (size_t i = 0; i + 1 < turns_.size(); ++i)
            messages.push_back({turns_[i].role, turns_[i].text});
        sampling = sampling_;
        max_tokens = max_tokens_;
    }
    try {
        const auto& tokenizer = session_->tokenizer();
        std::vector<int32_t> ids = session_->chat_template().encode(tokenizer, messages, true);
        auto t0 = std::chrono::steady_clock::now();
        rt::GenerationStats s = generator_->generate(
            ids, max_tokens, sampling, [&](const rt::TokenEvent& ev) { on_token(ev, t0); });
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
    std::lock_guard lk(mutex_);
    view.target_bits = budget_;
    if (log_.is_open()) {
        nlohmann::json j{{"n", stats_.total_tokens}, {"id", ev.id},       {"text", ev.text},
                         {"bits", ev.bits},          {"target", budget_}, {"logprob", ev.logprob}};
        log_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        log_.flush();
    }
    auto now = std::chrono::steady_clock::now();
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
