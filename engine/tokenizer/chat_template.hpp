#pragma once
// Chat prompts for the common LLaMA-family chat formats. We do not run Jinja: the family is
// recognised from distinctive markers in tokenizer.chat_template and rendered by hand, giving
// the same text as the model's template does for plain {role, content} conversations.
//
// Recognition (first match wins):
//   "<|start_header_id|>"           -> Llama 3 (3.1+ when it mentions "Cutting Knowledge Date")
//   "<|im_start|>"                  -> ChatML (Qwen; its default system prompt is kept)
//   "<|user|>" and "<|assistant|>"  -> Zephyr / TinyLlama
//   "[INST]" with "<<SYS>>"         -> Llama 2 chat;  "[INST]" alone -> Mistral
// Fallback (no template, or one we do not recognise): ChatML when the vocabulary has
// <|im_start|>, Llama 3 when it has <|start_header_id|>, else a plain transcript:
//   "System: ...\n\nUser: ...\n\nAssistant: ...\n\n" and "Assistant:" as the generation prompt.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mq::tok {

class Tokenizer;

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

enum class ChatFamily { Llama3, Llama2, Mistral, ChatML, Zephyr, Plain };
const char* chat_family_name(ChatFamily family);

class ChatTemplate {
  public:
    // From a tokenizer.chat_template string (may be empty) and the vocabulary it belongs to.
    static ChatTemplate detect(std::string_view template_source, const Tokenizer& tokenizer);
    // A given family, with the vocabulary's BOS / EOS text.
    static ChatTemplate of_family(ChatFamily family, const Tokenizer& tokenizer);

    ChatFamily family() const { return family_; }
    // The prompt text. add_generation_prompt appends the header of the assistant's next turn.
    std::string apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
    // The prompt as ids: special-token text in it is parsed, and BOS is added in front when the
    // vocabulary asks for it and the text does not already start with it. Like llama.cpp, this
    // also parses special-token text inside message contents (a user who types "<|eot_id|>"
    // gets that token): pass untrusted text through your own filter first.
    std::vector<int32_t> encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) const;
    // As encode(), but message contents are plain text: control-token text inside a message
    // ("<|im_end|>", "<|eot_id|>") is tokenized as text, only the template's own markers become
    // control tokens. For text from untrusted clients (the server).
    std::vector<int32_t> encode_plain_contents(const Tokenizer& tokenizer,
                                               std::span<const ChatMessage> messages,
                                               bool add_generation_prompt) const;
    // The ids that end the assistant's turn: the template's end markers the vocabulary has, and
    // EOS.
    std::vector<int32_t> stop_tokens(const Tokenizer& tokenizer) const;

  private:
    std::vector<int32_t> encode_text(const Tokenizer& tokenizer, const std::string& prompt,
                                     std::vector<std::pair<size_t, size_t>> plain_ranges) const;
    // Where each message's content sits in apply()'s text (byte ranges, in order).
    std::vector<std::pair<size_t, size_t>> content_ranges(std::span<const ChatMessage> messages,
                                                          const std::string& rendered,
                                                          bool add_generation_prompt) const;
    ChatFamily family_ = ChatFamily::Plain;
    std::string bos_, eos_;
    std::string default_system_;  // ChatML: used when the conversation has no system message
    bool llama31_ = false;        // Llama 3.1+: the system turn carries the knowledge-date header
    std::vector<std::string> stop_texts_;
};

}  // namespace mq::tok
