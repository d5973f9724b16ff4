#pragma once
// What `mobiquant info` prints: the model description, parameter count, tokenizer summary and
// tensor list, as text or JSON. Kept in the library so tests check exactly what users see.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/model_loader.hpp"

namespace mq {

struct TokenizerSummary {
    std::string model;        // GGUF tokenizer.ggml.model ("llama", "gpt2") or tokenizer.json type
    std::string pre;          // GGUF tokenizer.ggml.pre, or the HF pre-tokenizer type
    uint64_t vocab_size = 0;  // 0 when no tokenizer is present
    int64_t bos_id = -1, eos_id = -1;
    std::string bos_text, eos_text;
    bool has_chat_template = false;
};
TokenizerSummary summarize_tokenizer(const LoadedModel& model);

nlohmann::json model_info_json(const LoadedModel& model);
std::string model_info_text(const LoadedModel& model, bool list_tensors = true);

// GGUF metadata value as JSON (arrays in full).
nlohmann::json to_json(const gguf::Value& value);

}  // namespace mq
