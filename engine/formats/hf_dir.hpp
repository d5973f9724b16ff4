#pragma once
// A Hugging Face model directory: config.json, model.safetensors or shards listed in
// model.safetensors.index.json, tokenizer.json, tokenizer_config.json (chat_template) and
// generation_config.json. The JSON documents are kept whole for the tokenizer and chat code.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/safetensors.hpp"

namespace mq {

class HfModelDir {
  public:
    // Throws mq::Error naming the missing or malformed file (and tensor for index mismatches).
    static HfModelDir open(const std::filesystem::path& dir);
    static bool looks_like(const std::filesystem::path& dir);  // a directory with config.json

    const std::filesystem::path& dir() const { return dir_; }
    const nlohmann::json& config() const { return config_; }
    // Absent files give nullptr.
    const nlohmann::json* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
    const nlohmann::json* tokenizer_config() const {
        return tokenizer_config_ ? &*tokenizer_config_ : nullptr;
    }
    const nlohmann::json* generation_config() const {
        return generation_config_ ? &*generation_config_ : nullptr;
    }
    // tokenizer_config.json "chat_template": the string, or the "default" entry of a list of
    // named templates; empty when there is none.
    const std::string& chat_template() const { return chat_template_; }

    struct TensorRef {
        const safetensors::File* file;
        const safetensors::TensorInfo* info;
    };
    // Every tensor of every shard, by its Hugging Face name.
    const std::vector<std::string>& tensor_names() const { return names_; }
    std::optional<TensorRef> find_tensor(std::string_view name) const;
    const std::vector<safetensors::File>& shards() const { return shards_; }

  private:
    std::filesystem::path dir_;
    nlohmann::json config_;
    std::optional<nlohmann::json> tokenizer_, tokenizer_config_, generation_config_;
    std::string chat_template_;
    std::vector<safetensors::File> shards_;
    std::vector<std::string> names_;
    std::unordered_map<std::string, std::pair<size_t, size_t>> index_;  // shard, tensor
};

// Parses a JSON file, or throws mq::Error naming the file and the position of the problem.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace mq
