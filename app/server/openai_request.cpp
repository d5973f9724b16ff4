#include "server/openai_request.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "server/api_error.hpp"

namespace mq::server {

namespace {
using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
    throw ApiError(400, message, param, "invalid_value");
}

// The field when present and not null, else nullptr.
const json* field(const json& j, const char* name) {
    auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& v, const std::string& name, double lo, double hi) {
    if (!v.is_number()) bad(name, "'" + name + "' must be a number");
    double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
        bad(name, "'" + name + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
    return x;
}

int64_t integer(const json& v, const std::string& name, int64_t lo, int64_t hi) {
    if (!v.is_number_integer()) bad(name, "'" + name + "' must be an integer");
    int64_t x =
        v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi) ? hi + 1 : v.get<int64_t>();
    if (x < lo || x > hi)
        bad(name,
            "'" + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return x;
}

bool boolean(const json& v, const std::string& name) {
    if (!v.is_boolean()) bad(name, "'" + name + "' must be true or false");
    return v.get<bool>();
}

std::string text(const json& v, const std::string& name) {
    if (!v.is_string()) bad(name, "'" + name + "' must be a string");
    return v.get<std::string>();
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_of(const json& v, const std::string& name) {
    if (v.is_string()) return v.get<std::string>();
    if (!v.is_array()) bad(name, "'" + name + "' must be a string or an array of text parts");
    std::string out;
    for (const json& part : v) {
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text"))
            bad(name, "'" + name + "' parts must be {\"type\": \"text\", \"text\": ...}");
        out += text(part["text"], name + ".text");
    }
    return out;
}

void read_messages(const json& body, ApiRequest& r) {
    const json* m = field(body, "messages");
    if (!m) bad("messages", "'messages' is required");
    if (!m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < m->size(); ++i) {
        const json& msg = (*m)[i];
        const std::string at = "messages[" + std::to_string(i) + "]";
        if (!msg.is_object()) bad(at, "'" + at + "' must be an object");
        const json* role = field(msg, "role");
        if (!role) bad(at + ".role", "'" + at + ".role' is required");
        std::string rl = text(*role, at + ".role");
        if (rl == "developer") rl = "system";
        if (rl != "system" && rl != "user" && rl != "assistant")
            bad(at + ".role", "'" + at + ".role' must be system, user or assistant");
        const json* content = field(msg, "content");
        r.messages.push_back({rl, content ? content_of(*content, at + ".content") : ""});
    }
}

void read_prompt(const json& body, ApiRequest& r) {
    const json* p = field(body, "prompt");
    if (!p) bad("prompt", "'prompt' is required");
    if (p->is_array()) {
        if (p->size() != 1 || !(*p)[0].is_string())
            bad("prompt", "'prompt' must be a string (one prompt per request)");
        r.prompt = (*p)[0].get<std::string>();
    } else {
        r.prompt = text(*p, "prompt");
    }
}

void read_extension(const json& body, ApiRequest& r) {
    const json* ext = field(body, "mobiquant");
    if (!ext) return;
    if (!ext->is_object()) bad("mobiquant", "'mobiquant' must be an object");
    const json* budget = field(*ext, "budget");
    const json* depth = field(*ext, "depth");
    const json* tps = field(*ext, "target_tps");
    if ((budget != nullptr) + (depth != nullptr) + (tps != nullptr) > 1)
        bad("mobiquant",
            "give one of 'mobiquant.budget', 'mobiquant.depth' and 'mobiquant.target_tps'");
    if (tps) r.target_tps = number(*tps, "mobiquant.target_tps", 1e-3, 1e6);
    if (budget)
        r.policy = rt::DepthPolicy::budget(
            static_cast<float>(number(*budget, "mobiquant.budget", 2.0, 8.0)));
    if (depth)
        r.policy = rt::DepthPolicy::uniform(
            static_cast<uint8_t>(integer(*depth, "mobiquant.depth", 1, 4)));
    if (const json* d = field(*ext, "depths")) r.depths = boolean(*d, "mobiquant.depths");
}
}  // namespace

ApiRequest parse_request(std::string_view body_text, bool chat) {
    json body = json::parse(body_text, nullptr, false);
    if (body.is_discarded())
        throw ApiError(400, "the request body is not valid JSON", "", "invalid_json");
    if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");

    ApiRequest r;
    r.chat = chat;
    // OpenAI's sampling: temperature and top-p only.
    r.sampling = {
        .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repetition_penalty = 1.0f};
    if (const json* m = field(body, "model")) r.model = text(*m, "model");
    if (chat)
        read_messages(body, r);
    else
        read_prompt(body, r);
    for (const char* name : {"max_tokens", "max_completion_tokens"})
        if (const json* v = field(body, name))
            r.max_tokens = static_cast<uint32_t>(integer(*v, name, 1, 1 << 24));
    if (const json* v = field(body, "temperature"))
        r.sampling.temperature = static_cast<float>(number(*v, "temperature", 0.0, 2.0));
    if (const json* v = field(body, "top_p"))
        r.sampling.top_p = static_cast<float>(number(*v, "top_p", 1e-6, 1.0));
    if (const json* v = field(body, "seed")) {
        int64_t s = integer(*v, "seed", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max());
        // The sampler reads 0 as "draw a seed"; a client's 0 is a seed like any other.
        r.sampling.seed = s == 0 ? 0x9E3779B97F4A7C15ull : static_cast<uint64_t>(s);
    }
    if (const json* v = field(body, "n"); v && integer(*v, "n", 1, 128) != 1)
        bad("n", "only n = 1 is supported");
    if (const json* v = field(body, "stop")) {
        if (v->is_string()) {
            r.stop.push_back(v->get<std::string>());
        } else if (v->is_array() && v->size() <= 4) {
            for (const json& s : *v) r.stop.push_back(text(s, "stop"));
        } else {
            bad("stop", "'stop' must be a string or an array of at most 4 strings");
        }
        std::erase(r.stop, std::string());
    }
    if (const json* v = field(body, "stream")) r.stream = boolean(*v, "stream");
    if (chat) {
        if (const json* v = field(body, "logprobs")) r.logprobs = boolean(*v, "logprobs");
        if (const json* v = field(body, "top_logprobs"))
            r.top_logprobs = static_cast<uint32_t>(integer(*v, "top_logprobs", 0, kMaxTopLogprobs));
        if (r.top_logprobs && !r.logprobs)
            bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    } else if (const json* v = field(body, "logprobs")) {
        r.top_logprobs = static_cast<uint32_t>(integer(*v, "logprobs", 0, kMaxTopLogprobs));
        r.logprobs = true;
    }
    read_extension(body, r);
    return r;
}

}  // namespace mq::server
