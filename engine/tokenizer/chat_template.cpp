#include "tokenizer/chat_template.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::tok {

namespace {
std::string_view trim(std::string_view s) {  // Jinja's trim / Python's strip()
    const char* ws = " \t\n\r\f\v";
    const size_t a = s.find_first_not_of(ws);
    if (a == std::string_view::npos) return {};
    const size_t b = s.find_last_not_of(ws);
    return s.substr(a, b - a + 1);
}

std::string text_of(const Tokenizer& t, int32_t id, const char* fallback) {
    return id >= 0 ? t.token_text(id) : std::string(fallback);
}

// The default system prompt a ChatML template writes when there is none, e.g. Qwen 2.5's
// '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. ...<|im_end|>\n'.
std::string chatml_default_system(std::string_view tmpl) {
    const std::string_view open = "<|im_start|>system\\n";
    for (size_t pos = tmpl.find(open); pos != std::string_view::npos;
         pos = tmpl.find(open, pos + 1)) {
        const size_t start = pos + open.size();
        const size_t end = tmpl.find("<|im_end|>", start);
        if (end == std::string_view::npos) break;
        const std::string_view body = tmpl.substr(start, end - start);
        if (!body.empty() && body.find_first_of("'\"{}+") == std::string_view::npos)
            return std::string(body);
    }
    return {};
}

std::string capitalized(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
}
}  // namespace

const char* chat_family_name(ChatFamily f) {
    switch (f) {
        case ChatFamily::Llama3:
            return "llama3";
        case ChatFamily::Llama2:
            return "llama2";
        case ChatFamily::Mistral:
            return "mistral";
        case ChatFamily::ChatML:
            return "chatml";
        case ChatFamily::Zephyr:
            return "zephyr";
        case ChatFamily::Plain:
            return "plain";
    }
    return "?";
}

ChatTemplate ChatTemplate::of_family(ChatFamily family, const Tokenizer& t) {
    ChatTemplate c;
    c.family_ = family;
    c.bos_ = text_of(t, t.bos(), "");
    c.eos_ = text_of(t, t.eos(), "");
    std::vector<std::string> stops;
    switch (family) {
        case ChatFamily::Llama3:
            stops = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
            break;
        case ChatFamily::ChatML:
            stops = {"<|im_end|>", "<|endoftext|>"};
            break;
        default:
            break;
    }
    if (!c.eos_.empty()) stops.push_back(c.eos_);
    for (auto& s : stops)
        if (t.find(s) >= 0 &&
            std::find(c.stop_texts_.begin(), c.stop_texts_.end(), s) == c.stop_texts_.end())
            c.stop_texts_.push_back(s);
    return c;
}

ChatTemplate ChatTemplate::detect(std::string_view tmpl, const Tokenizer& t) {
    auto has = [&](std::string_view marker) { return tmpl.find(marker) != std::string_view::npos; };
    ChatFamily family;
    if (has("<|start_header_id|>"))
        family = ChatFamily::Llama3;
    else if (has("<|im_start|>"))
        family = ChatFamily::ChatML;
    else if (has("<|user|>") && has("<|assistant|>"))
        family = ChatFamily::Zephyr;
    else if (has("[INST]"))
        family = has("<<SYS>>") ? ChatFamily::Llama2 : ChatFamily::Mistral;
    else if (t.find("<|im_start|>") >= 0)
        family = ChatFamily::ChatML;
    else if (t.find("<|start_header_id|>") >= 0)
        family = ChatFamily::Llama3;
    else
        family = ChatFamily::Plain;
    ChatTemplate c = of_family(family, t);
    if (family == ChatFamily::ChatML) c.default_system_ = chatml_default_system(tmpl);
    if (family == ChatFamily::Llama3) c.llama31_ = has("Cutting Knowledge Date");
    return c;
}

std::string ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_gen) const {
    std::string out;
    switch (family_) {
        case ChatFamily::Llama3: {
            size_t first = 0;
            out += bos_;
            if (llama31_) {
                // Llama 3.1+ always opens with a system turn holding the knowledge-date header
                // (the template's default date, as Hugging Face renders it without a date_string).
                std::string system;
                if (!messages.empty() && messages[0].role == "system") {
                    system = std::string(trim(messages[0].content));
                    first = 1;
                }
                out += "<|start_header_id|>system<|end_header_id|>\n\n";
                out += "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
                out += system + "<|eot_id|>";
            }
            for (size_t i = first; i < messages.size(); ++i) {
                out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n";
                out += std::string(trim(messages[i].content)) + "<|eot_id|>";
            }
            if (messages.empty() && !llama31_) out.clear();  // BOS comes with the first message
            if (add_gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            break;
        }
        case ChatFamily::Llama2: {
            size_t first = 0;
            std::string system;
            bool has_system = false;
            if (!messages.empty() && messages[0].role == "system") {
                system = messages[0].content;
                has_system = true;
                first = 1;
            }
            for (size_t i = first; i < messages.size(); ++i) {
                std::string content = messages[i].content;
                if (i == first && has_system)
                    content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
                if (messages[i].role == "user")
                    out += bos_ + "[INST] " + std::string(trim(content)) + " [/INST]";
                else if (messages[i].role == "assistant")
                    out += " " + std::string(trim(content)) + " " + eos_;
            }
            break;  // the template has no generation prompt: "[/INST]" already asks for one
        }
        case ChatFamily::Mistral: {
            // No system role: a system message is put in front of the first user message.
            out += bos_;
            std::string system;
            for (const auto& m : messages) {
                if (m.role == "system") {
                    system = m.content;
                } else if (m.role == "user") {
                    std::string content = system.empty() ? m.content : system + "\n\n" + m.content;
                    system.clear();
                    out += "[INST] " + content + " [/INST]";
                } else if (m.role == "assistant") {
                    out += m.content + eos_;
                }
            }
            break;
        }
        case ChatFamily::ChatML: {
            if ((messages.empty() || messages[0].role != "system") && !default_system_.empty())
                out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
            for (const auto& m : messages)
                out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            if (add_gen) out += "<|im_start|>assistant\n";
            break;
        }
        case ChatFamily::Zephyr: {
            for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + eos_ + "\n";
            if (add_gen) out += "<|assistant|>\n";
            break;
        }
        case ChatFamily::Plain: {
            for (const auto& m : messages) out += capitalized(m.role) + ": " + m.content + "\n\n";
            if (add_gen) out += "Assistant:";
            break;
        }
    }
    return out;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& t, std::span<const ChatMessage> messages,
                                          bool add_gen) const {
    return encode_text(t, apply(messages, add_gen), {});
}

std::vector<int32_t> ChatTemplate::encode_plain_contents(const Tokenizer& t,
                                                         std::span<const ChatMessage> messages,
                                                         bool add_gen) const {
    const std::string prompt = apply(messages, add_gen);
    return encode_text(t, prompt, content_ranges(messages, prompt, add_gen));
}

std::vector<int32_t> ChatTemplate::encode_text(
    const Tokenizer& t, const std::string& prompt,
    std::vector<std::pair<size_t, size_t>> plain_ranges) const {
    std::vector<int32_t> ids = t.encode(
        prompt,
        {.add_special = false, .parse_special = true, .plain_ranges = std::move(plain_ranges)});
    if (t.spec().add_bos && t.bos() >= 0 && (ids.empty() || ids.front() != t.bos()))
        ids.insert(ids.begin(), t.bos());
    return ids;
}

// The template is rendered a second time with a marker for each content; the text between
// markers is the template's own. Walking the real rendering with those pieces gives where each
// content landed (as is, or trimmed as some templates do).
std::vector<std::pair<size_t, size_t>> ChatTemplate::content_ranges(
    std::span<const ChatMessage> messages, const std::string& rendered, bool add_gen) const {
    auto marker = [](size_t i) {
        std::string m(1, '\x01');
        m += std::to_string(i);
        m += '\x02';
        return m;
    };
    std::vector<ChatMessage> marked(messages.begin(), messages.end());
    for (size_t i = 0; i < marked.size(); ++i) marked[i].content = marker(i);
    const std::string skeleton = apply(marked, add_gen);
    // Split the skeleton into template text and the message index of each marker.
    std::vector<std::string> pieces{""};
    std::vector<size_t> order;
    for (size_t p = 0; p < skeleton.size();) {
        size_t end = skeleton[p] == '\x01' ? skeleton.find('\x02', p) : std::string::npos;
        if (end == std::string::npos) {
            pieces.back() += skeleton[p++];
            continue;
        }
        order.push_back(std::stoul(skeleton.substr(p + 1, end - p - 1)));
        pieces.emplace_back();
        p = end + 1;
    }
    std::vector<std::pair<size_t, size_t>> ranges;
    if (rendered.compare(0, pieces[0].size(), pieces[0]) != 0)
        fail("the chat template rendered its markup differently around a message");
    size_t pos = pieces[0].size();
    for (size_t k = 0; k < order.size(); ++k) {
        const std::string& content = messages[order[k]].content;
        const std::string& next = pieces[k + 1];
        const std::string_view trimmed = trim(content);
        const size_t lead = content.find(trimmed.empty() ? content : std::string(trimmed));
        const std::string_view candidates[] = {
            content, trimmed, std::string_view(content).substr(lead),
            std::string_view(content).substr(0, trimmed.empty() ? 0 : lead + trimmed.size())};
        bool found = false;
        for (std::string_view c : candidates) {
            const bool last = k + 1 == order.size();
            if (rendered.compare(pos, c.size(), c) == 0 &&
                rendered.compare(pos + c.size(), next.size(), next) == 0 &&
                (!last || pos + c.size() + next.size() == rendered.size())) {
                ranges.emplace_back(pos, pos + c.size());
                pos += c.size() + next.size();
                found = true;
                break;
            }
        }
        if (!found) fail("the chat template rendered a message in a way its markup cannot tell");
    }
    return ranges;
}

std::vector<int32_t> ChatTemplate::stop_tokens(const Tokenizer& t) const {
    std::vector<int32_t> ids;
    for (const auto& s : stop_texts_)
        if (const int32_t id = t.find(s); id >= 0) ids.push_back(id);
    if (t.eos() >= 0 && std::find(ids.begin(), ids.end(), t.eos()) == ids.end())
        ids.push_back(t.eos());
    return ids;
}

}  // namespace mq::tok
