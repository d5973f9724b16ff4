#include "formats/hf_dir.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace fs = std::filesystem;

namespace mq {

nlohmann::json read_json_file(const fs::path& path) {
    std::string text = read_text_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail("{} is not valid JSON: {}", path.string(), e.what());
    }
}

bool HfModelDir::looks_like(const fs::path& dir) {
    std::error_code ec;
    return fs::is_directory(dir, ec) && fs::is_regular_file(dir / "config.json", ec);
}

namespace {

std::optional<nlohmann::json> read_optional_json(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;
    return read_json_file(path);
}

// A shard named in the index must be a plain file name inside the directory.
fs::path shard_path(const fs::path& dir, const std::string& name, const fs::path& index_path) {
    if (name.empty() || name.find('/') != std::string::npos ||
        name.find('\\') != std::string::npos || name == "." || name == "..")
        fail("{}: shard name '{}' is not a file name in the model directory", index_path.string(),
             name);
    return dir / name;
}

}  // namespace

HfModelDir HfModelDir::open(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail("{} is not a directory", dir.string());
    HfModelDir m;
    m.dir_ = dir;
    if (!fs::is_regular_file(dir / "config.json", ec))
        fail("{} has no config.json: not a Hugging Face model directory", dir.string());
    m.config_ = read_json_file(dir / "config.json");
    if (!m.config_.is_object()) fail("{}: not a JSON object", (dir / "config.json").string());
    m.tokenizer_ = read_optional_json(dir / "tokenizer.json");
    m.tokenizer_config_ = read_optional_json(dir / "tokenizer_config.json");
    m.generation_config_ = read_optional_json(dir / "generation_config.json");

    if (m.tokenizer_config_ && m.tokenizer_config_->is_object()) {
        auto it = m.tokenizer_config_->find("chat_template");
        if (it != m.tokenizer_config_->end()) {
            if (it->is_string()) {
                m.chat_template_ = it->get<std::string>();
            } else if (it->is_array()) {  // [{"name": "default", "template": "..."}, ...]
                for (const auto& t : *it)
                    if (t.is_object() && t.value("name", "") == "default" &&
                        t.contains("template") && t["template"].is_string())
                        m.chat_template_ = t["template"].get<std::string>();
            }
        }
    }

    // Weights: one model.safetensors, or the shards an index lists.
    const fs::path index_path = dir / "model.safetensors.index.json";
    std::vector<std::string> shard_names;
    nlohmann::json weight_map;
    if (fs::exists(index_path, ec)) {
        nlohmann::json index = read_json_file(index_path);
        if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
            fail("{}: missing the 'weight_map' object", index_path.string());
        weight_map = index["weight_map"];
        for (const auto& [tensor, shard] : weight_map.items()) {
            if (!shard.is_string())
                fail("{}: weight_map entry '{}' is not a file name", index_path.string(), tensor);
            const std::string& s = shard.get_ref<const std::string&>();
            if (std::find(shard_names.begin(), shard_names.end(), s) == shard_names.end())
                shard_names.push_back(s);
        }
        std::sort(shard_names.begin(), shard_names.end());
    } else if (fs::exists(dir / "model.safetensors", ec)) {
        shard_names.push_back("model.safetensors");
    } else {
        fail(
            "{} has neither model.safetensors nor model.safetensors.index.json (other weight "
            "formats such as pytorch_model.bin are not supported)",
            dir.string());
    }
    m.shards_.reserve(shard_names.size());
    for (const std::string& s : shard_names)
        m.shards_.push_back(safetensors::File::open(shard_path(dir, s, index_path)));

    for (size_t i = 0; i < m.shards_.size(); ++i) {
        const auto& tensors = m.shards_[i].tensors();
        for (size_t k = 0; k < tensors.size(); ++k) {
            const safetensors::TensorInfo& t = tensors[k];
            if (m.index_.count(t.name))
                fail("{}: tensor '{}' appears in two shards ({} and {})", dir.string(), t.name,
                     shard_names[m.index_[t.name].first], shard_names[i]);
            m.index_.emplace(t.name, std::pair{i, k});
            m.names_.push_back(t.name);
        }
    }
    // The index must agree with what the shards hold.
    for (const auto& [tensor, shard] : weight_map.items()) {
        auto it = m.index_.find(tensor);
        if (it == m.index_.end() || shard_names[it->second.first] != shard.get<std::string>())
            fail("{}: tensor '{}' is listed in {} but that shard does not hold it",
                 index_path.string(), tensor, shard.get<std::string>());
    }
    return m;
}

std::optional<HfModelDir::TensorRef> HfModelDir::find_tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) return std::nullopt;
    const safetensors::File& shard = shards_[it->second.first];
    return TensorRef{&shard, &shard.tensors()[it->second.second]};
}

}  // namespace mq
