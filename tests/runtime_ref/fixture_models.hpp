#pragma once
// The tiny models whose logits the torch oracle (tools/check/reference_logits.py) recorded in
// fixtures/<name>.json. The fixtures also carry the spec, so the tests read it from there; this
// list is what tools/check/make_fixtures.sh regenerates.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/tiny_model.hpp"

namespace mq::test {

struct FixtureModel {
    std::string name;
    TinyModelSpec spec;
};

inline std::vector<FixtureModel> fixture_models() {
    std::vector<FixtureModel> models;
    {
        TinyModelSpec s;  // llama, GQA (4 heads over 2 kv heads), tied output
        models.push_back({"llama_gqa_tied", s});
    }
    {
        TinyModelSpec s;  // llama, multi-head, untied output, llama3 rope scaling
        s.n_kv_heads = 4;
        s.tied = false;
        s.llama3_rope_scaling = true;
        s.seed = 2;
        models.push_back({"llama_untied_llama3rope", s});
    }
    {
        TinyModelSpec s;  // qwen2: neox rope, q/k/v bias; K = 96 and 200 give ragged groups
        s.arch = "qwen2";
        s.qkv_bias = true;
        s.dim = 96;
        s.n_heads = 6;
        s.n_kv_heads = 2;
        s.ffn = 200;
        s.vocab = 320;
        s.seed = 3;
        models.push_back({"qwen2_bias", s});
    }
    return models;
}

// The ids the fixtures were computed for (all below every fixture model's vocabulary).
inline std::vector<uint32_t> fixture_ids() {
    return {1, 17, 290, 42, 42, 3, 150, 299, 7, 260};
}

inline nlohmann::json spec_to_json(const TinyModelSpec& s) {
    return {{"arch", s.arch},
            {"vocab", s.vocab},
            {"dim", s.dim},
            {"n_layers", s.n_layers},
            {"n_heads", s.n_heads},
            {"n_kv_heads", s.n_kv_heads},
            {"ffn", s.ffn},
            {"context", s.context},
            {"tied", s.tied},
            {"qkv_bias", s.qkv_bias},
            {"llama3_rope_scaling", s.llama3_rope_scaling},
            {"seed", s.seed}};
}

inline TinyModelSpec spec_from_json(const nlohmann::json& j) {
    TinyModelSpec s;
    s.arch = j.at("arch").get<std::string>();
    s.vocab = j.at("vocab").get<uint32_t>();
    s.dim = j.at("dim").get<uint32_t>();
    s.n_layers = j.at("n_layers").get<uint32_t>();
    s.n_heads = j.at("n_heads").get<uint32_t>();
    s.n_kv_heads = j.at("n_kv_heads").get<uint32_t>();
    s.ffn = j.at("ffn").get<uint32_t>();
    s.context = j.at("context").get<uint32_t>();
    s.tied = j.at("tied").get<bool>();
    s.qkv_bias = j.at("qkv_bias").get<bool>();
    s.llama3_rope_scaling = j.at("llama3_rope_scaling").get<bool>();
    s.seed = j.at("seed").get<uint32_t>();
    return s;
}

}  // namespace mq::test
