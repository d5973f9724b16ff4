#include "server/api_server.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "runtime/batch_scheduler.hpp"
#include "server/api_error.hpp"
#include "server/openai_request.hpp"
#include "server/stop_text.hpp"

namespace mq::server {

namespace {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Token text may hold part of a UTF-8 character: dump it with the replacement character.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json bytes_of(const std::string& s) {
    json out = json::array();
    for (unsigned char c : s) out.push_back(c);
    return out;
}

json depths_json(const rt::TokenDepths& d) {
    json out = json::array();
    for (const auto& layer : d) out.push_back(json(std::vector<int>(layer.begin(), layer.end())));
    return out;
}

bool same_key(const std::string& a, const std::string& b) {  // no early exit on a mismatch
    unsigned diff = a.size() != b.size();
    for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
    return diff == 0;
}

const char* finish_reason(const std::string& stop_reason) {
    return stop_reason == "length" || stop_reason == "context full" ? "length" : "stop";
}

// One request's answer as it is produced: the scheduler thread adds tokens, the HTTP thread
// sends them (streaming) or the whole answer at the end.
struct Exchange {
    ApiRequest request;
    const tok::Tokenizer* tokenizer = nullptr;
    std::string id, model;
    int64_t created = 0;
    uint32_t prompt_tokens = 0;
    StopText stop;
    std::vector<rt::TokenEvent> tokens;
    std::string text;  // what the client got or gets
    // Streaming: finished chunks waiting to be sent; gone once the client is.
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::string> chunks;
    std::atomic<bool> gone{false};

    explicit Exchange(ApiRequest r) : request(std::move(r)), stop(request.stop) {}

    const char* object() const {
        return request.chat ? (request.stream ? "chat.completion.chunk" : "chat.completion")
                            : "text_completion";
    }
    json envelope(json choices) const {
        return {{"id", id},
                {"object", object()},
                {"created", created},
                {"model", model},
                {"choices", std::move(choices)}};
    }
    json top_json(const rt::TokenEvent& ev) const {
        json top = json::array();
        for (uint32_t i = 0; i < request.top_logprobs && i < ev.top.size(); ++i) {
            const std::string& piece = tokenizer->piece(static_cast<int32_t>(ev.top[i].first));
            top.push_back(
                {{"token", piece}, {"logprob", ev.top[i].second}, {"bytes", bytes_of(piece)}});
        }
        return top;
    }
    json chat_logprob(const rt::TokenEvent& ev) const {
        const std::string& piece = tokenizer->piece(static_cast<int32_t>(ev.id));
        return {{"token", piece},
                {"logprob", ev.logprob},
                {"bytes", bytes_of(piece)},
                {"top_logprobs", top_json(ev)}};
    }
    // Legacy completions: parallel arrays.
    json completion_logprobs(std::span<const rt::TokenEvent> evs, size_t offset0) const {
        json tokens = json::array(), lps = json::array(), tops = json::array(),
             offsets = json::array();
        size_t offset = offset0;
        for (const auto& ev : evs) {
            const std::string& piece = tokenizer->piece(static_cast<int32_t>(ev.id));
            tokens.push_back(piece);
            lps.push_back(ev.logprob);
            json top = json::object();
            for (uint32_t i = 0; i < request.top_logprobs && i < ev.top.size(); ++i)
                top[tokenizer->piece(static_cast<int32_t>(ev.top[i].first))] = ev.top[i].second;
            tops.push_back(top);
            offsets.push_back(offset);
            offset += ev.text.size();
        }
        return {{"tokens", tokens},
                {"token_logprobs", lps},
                {"top_logprobs", tops},
                {"text_offset", offsets}};
    }
    json logprobs_json(std::span<const rt::TokenEvent> evs, size_t offset0) const {
        if (!request.logprobs) return nullptr;
        if (!request.chat) return completion_logprobs(evs, offset0);
        json content = json::array();
        for (const auto& ev : evs) content.push_back(chat_logprob(ev));
        return {{"content", content}};
    }
    json usage(const rt::GenerationStats& stats) const {
        return {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", stats.generated},
                {"total_tokens", prompt_tokens + stats.generated},
                {"mobiquant", mobiquant_usage(stats)}};
    }
    static json mobiquant_usage(const rt::GenerationStats& stats) {
        json m{{"mean_bits", stats.generated ? stats.mean_bits : 0.0}};
        if (stats.speed_state) {  // under a tokens/s target
            m["decode_tps"] = stats.decode_tps();
            m["mean_budget"] = stats.mean_budget;
            m["speed"] = rt::speed_state_name(*stats.speed_state);
        }
        return m;
    }

    // Scheduler thread: a new token. Returns false once a stop string matched or the client left.
    bool on_token(const rt::TokenEvent& ev) {
        if (gone) return false;
        tokens.push_back(ev);
        std::string out = stop.push(ev.text);
        text += out;
        if (request.stream) {
            json choice = {{"index", 0},
                           {"logprobs", logprobs_json(std::span(&ev, 1), text.size() - out.size())},
                           {"finish_reason", nullptr}};
            if (request.chat)
                choice["delta"] = {{"content", out}};
            else
                choice["text"] = out;
            choice["mobiquant"] = {{"bits", ev.bits}};
            if (request.depths) choice["mobiquant"]["depths"] = depths_json(ev.depths);
            push_chunk(envelope(json::array({choice})));
        }
        return !stop.matched();
    }
    void push_chunk(const json& j) {
        {
            std::lock_guard lock(mutex);
            chunks.push_back("data: " + dump(j) + "\n\n");
        }
        ready.notify_one();
    }

    json final_answer(const rt::GenerationStats& stats) {
        text += stop.flush();
        json choice = {{"index", 0},
                       {"logprobs", logprobs_json(tokens, 0)},
                       {"finish_reason", finish_reason(stats.stop_reason)}};
        if (request.chat)
            choice["message"] = {{"role", "assistant"}, {"content", text}};
        else
            choice["text"] = text;
        json bits = json::array(), depths = json::array();
        for (const auto& ev : tokens) {
            bits.push_back(ev.bits);
            if (request.depths) depths.push_back(depths_json(ev.depths));
        }
        choice["mobiquant"] = {{"bits", bits}};
        if (request.depths) choice["mobiquant"]["depths"] = depths;
        json out = envelope(json::array({choice}));
        out["usage"] = usage(stats);
        return out;
    }
    json final_chunk(const rt::GenerationStats& stats) {
        json choice = {{"index", 0}, {"finish_reason", finish_reason(stats.stop_reason)}};
        if (request.chat)
            choice["delta"] = json::object();
        else
            choice["text"] = "";
        json out = envelope(json::array({choice}));
        out["usage"] = usage(stats);
        return out;
    }
};

}  // namespace

struct ApiServer::Impl {
    rt::ModelSession& session;
    ServerOptions options;
    rt::BatchScheduler scheduler;
    httplib::Server http;
    std::atomic<uint64_t> requests{0}, next_id{0};
    int bound_port = 0;
    std::thread thread;
    // A stop() that comes before run() has started listening must still end it.
    std::atomic<bool> stopping{false}, running{false};

    Impl(rt::ModelSession& s, ServerOptions o)
        : session(s),
          options(std::move(o)),
          scheduler(s, {.parallel = options.parallel,
                        .queue = options.queue,
                        .slot_context = options.context}) {}

    void send_error(httplib::Response& res, const ApiError& e) {
        res.status = e.status;
        res.set_content(dump(e.to_json()), "application/json");
    }

    void routes();
    void completion(const httplib::Request& req, httplib::Response& res, bool chat);
    void stream(httplib::Response& res, std::shared_ptr<Exchange> ex,
                std::shared_future<rt::SequenceResult> done);
};

void ApiServer::Impl::routes() {
    http.set_payload_max_length(options.max_body_bytes);
    // Handlers block while their request decodes: enough threads for every slot and the queue.
    const size_t threads = options.parallel + options.queue + 4;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        requests++;
        if (options.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) == 0 && same_key(auth.substr(7), options.api_key))
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, ApiError(401, "a valid API key is needed (Authorization: Bearer KEY)", "",
                                 "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
    });
    // Errors httplib answers itself (413 for a body over the limit, 404, 400) get a JSON body.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            std::string message = res.status == 413   ? "the request body is too large"
                                  : res.status == 404 ? "no such endpoint"
                                                      : "the request cannot be served";
            send_error(res, ApiError(res.status, message));
            return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string message = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                message = e.what();
            } catch (...) {
            }
            send_error(res, ApiError(500, message, "", "", "server_error"));
        });

    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        json j = {{"status", "ok"},
                  {"slots", scheduler.parallel()},
                  {"active", scheduler.active()},
                  {"queued", scheduler.queued()}};
        res.set_content(dump(j), "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
        const auto& fwd = session.forward();
        json model = {{"id", options.model_id},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "mobiquant"},
                      {"mobiquant",
                       {{"quantized", fwd.quantized()},
                        {"routed", fwd.routed()},
                        {"context", scheduler.slot_context()}}}};
        res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}),
                        "application/json");
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
        completion(req, res, true);
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
        completion(req, res, false);
    });
}

void ApiServer::Impl::completion(const httplib::Request& req, httplib::Response& res, bool chat) {
    try {
        auto ex = std::make_shared<Exchange>(parse_request(req.body, chat));
        const ApiRequest& r = ex->request;
        const tok::Tokenizer& tokenizer = session.tokenizer();
        std::vector<int32_t> prompt =
            chat ? session.chat_template().encode_plain_contents(tokenizer, r.messages, true)
                 : tokenizer.encode(r.prompt, {.add_special = true, .parse_special = false});
        const uint32_t context = scheduler.slot_context();
        const char* prompt_field = chat ? "messages" : "prompt";
        if (prompt.empty()) throw ApiError(400, "the prompt is empty", prompt_field);
        if (prompt.size() >= context)
            throw ApiError(400,
                           fmt::format("the prompt has {} tokens; this server's context holds {}",
                                       prompt.size(), context),
                           prompt_field, "context_length_exceeded");
        const uint32_t room = context - static_cast<uint32_t>(prompt.size());
        const uint32_t max_tokens =
            r.max_tokens.value_or(std::min(options.default_max_tokens, room));
        if (max_tokens > room)
            throw ApiError(400,
                           fmt::format("max_tokens {} with a {}-token prompt exceeds this server's "
                                       "context of {} tokens (at most {})",
                                       max_tokens, prompt.size(), context, room),
                           "max_tokens", "context_length_exceeded");

        ex->tokenizer = &tokenizer;
        ex->id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++next_id);
        ex->model = options.model_id;
        ex->created = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
        ex->prompt_tokens = static_cast<uint32_t>(prompt.size());
        rt::SequenceRequest sr;
        sr.prompt = std::move(prompt);
        sr.max_tokens = max_tokens;
        sr.sampling = r.sampling;
        sr.policy = r.policy.value_or(options.policy);
        sr.target_tps = r.target_tps;
        sr.on_token = [ex](const rt::TokenEvent& ev) { return ex->on_token(ev); };
        if (chat && r.stream)  // the role comes first, as OpenAI sends it
            ex->push_chunk(
                ex->envelope(json::array({{{"index", 0},
                                           {"delta", {{"role", "assistant"}, {"content", ""}}},
                                           {"logprobs", nullptr},
                                           {"finish_reason", nullptr}}})));
        auto done = scheduler.submit(std::move(sr));
        if (!done)
            throw ApiError(503,
                           "the server is busy: every sequence slot is taken and the queue is full",
                           "", "server_busy", "server_error");
        if (r.stream) return stream(res, ex, done->share());
        rt::SequenceResult result = done->get();
        if (!result.error.empty()) throw ApiError(500, result.error, "", "", "server_error");
        res.set_content(dump(ex->final_answer(result.stats)), "application/json");
    } catch (const ApiError& e) {
        send_error(res, e);
    } catch (const Error& e) {  // the engine's checks of the request (budget, prompt ids, ...)
        send_error(res, ApiError(400, e.what()));
    }
}

void ApiServer::Impl::stream(httplib::Response& res, std::shared_ptr<Exchange> ex,
                             std::shared_future<rt::SequenceResult> done) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [ex, done](size_t, httplib::DataSink& sink) {
            // The answer is complete once the scheduler set the result: every chunk is queued.
            const bool finished =
                done.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
            std::deque<std::string> chunks;
            {
                std::unique_lock lock(ex->mutex);
                if (!finished)
                    ex->ready.wait_for(lock, std::chrono::milliseconds(50),
                                       [&] { return !ex->chunks.empty(); });
                chunks.swap(ex->chunks);
            }
            for (const auto& c : chunks)
                if (!sink.write(c.data(), c.size())) return ex->gone = true, false;
            if (!finished) return true;
            const rt::SequenceResult& result = done.get();
            std::string tail;
            if (!result.error.empty()) {
                tail =
                    "data: " + dump(ApiError(500, result.error, "", "", "server_error").to_json()) +
                    "\n\n";
            } else {
                if (std::string rest = ex->stop.flush(); !rest.empty()) {
                    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
                    if (ex->request.chat)
                        choice["delta"] = {{"content", rest}};
                    else
                        choice["text"] = rest;
                    tail += "data: " + dump(ex->envelope(json::array({choice}))) + "\n\n";
                }
                tail += "data: " + dump(ex->final_chunk(result.stats)) + "\n\n";
            }
            tail += "data: [DONE]\n\n";
            if (!sink.write(tail.data(), tail.size())) return ex->gone = true, false;
            sink.done();
            return true;
        },
        [ex](bool success) {
            if (!success) ex->gone = true;  // the client left: the sequence ends at its next token
        });
}

ApiServer::ApiServer(rt::ModelSession& session, ServerOptions options)
    : impl_(std::make_unique<Impl>(session, std::move(options))) {
    Impl& m = *impl_;
    if (m.options.model_id.empty()) m.options.model_id = session.desc().name;
    m.routes();
    if (m.options.port == 0) {
        m.bound_port = m.http.bind_to_any_port(m.options.host);
        if (m.bound_port <= 0) fail("cannot listen on {} (any port)", m.options.host);
    } else {
        if (!m.http.bind_to_port(m.options.host, m.options.port))
            fail("cannot listen on {}:{} (in use, or not an address of this machine?)",
                 m.options.host, m.options.port);
        m.bound_port = m.options.port;
    }
}

ApiServer::~ApiServer() {
    stop();
}

void ApiServer::run() {
    impl_->running = true;
    if (!impl_->stopping) impl_->http.listen_after_bind();
    impl_->running = false;
}

void ApiServer::start() {
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([this] { run(); });
}

void ApiServer::stop() {
    impl_->stopping = true;
    while (impl_->running && !impl_->http.is_running())  // run() is about to listen
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl_->http.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::string ApiServer::address() const {
    return fmt::format("http://{}:{}", impl_->options.host, impl_->bound_port);
}

int ApiServer::port() const {
    return impl_->bound_port;
}

uint64_t ApiServer::requests() const {
    return impl_->requests.load();
}

}  // namespace mq::server
