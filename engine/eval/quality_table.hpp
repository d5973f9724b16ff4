#pragma once
// The quality table of docs/design.md section 6, as the `eval` job prints it and the desktop app's
// quality view draws it. bits is always the achieved average over routed linears.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mq::eval {

struct QualityPoint {
    double budget = 0;  // the requested target (routed only; 0 elsewhere)
    double bits = 0;    // achieved average bits over routed linears
    double ppl = 0;
    // Controls only: standard error of (routed ppl - this ppl) from the paired per-token NLL
    // differences over the same tokens (0: not measured). Differences below ~2 of these are noise.
    double se_vs_routed = 0;
    // Mean KL divergence of the next-token distributions from the full-precision model's, in
    // nats per token (-1: not measured). Without perplexity's first-order noise it shows damage
    // perplexity cannot resolve (above 6 bits on small models).
    double kl = -1;
    double kl_se_vs_routed = 0;  // controls: paired standard error of (routed kl - this kl)
};

struct QualityTable {
    std::string model;                       // file name of the checkpoint
    std::string text;                        // file name of the held-out text
    uint64_t tokens = 0;                     // tokens scored per configuration
    double fp_ppl = 0;                       // the full-precision model
    std::vector<QualityPoint> uniform;       // every uniform depth: 2/4/6/8 bits
    std::vector<QualityPoint> bit_specific;  // round-to-nearest calibrated per width
    std::vector<QualityPoint> routed;        // budgets 2.0, 2.5, ... 8.0
    std::vector<QualityPoint> random;        // random depths at the routed bits
    std::vector<QualityPoint> mix;           // neighbouring uniform depths mixed per token

    // {"fp_ppl", "uniform": [{"bits","ppl"}], "bit_specific": [...], "routed": [{"budget",
    // "bits","ppl"}], "random": [...], "mix": [...], "model", "text", "tokens"}; points also
    // carry "kl" when measured and controls "se_vs_routed" / "kl_se_vs_routed".
    nlohmann::json to_json() const;
    static QualityTable from_json(const nlohmann::json& j);  // throws mq::Error on bad shape
};

// Where the table of a model is kept: "model.gguf" -> "model.quality.json" beside it.
std::filesystem::path quality_table_path(const std::filesystem::path& model);
// Reads it when present (nullopt if missing; mq::Error if present but unreadable).
std::optional<QualityTable> load_quality_table(const std::filesystem::path& model);
void save_quality_table(const QualityTable& table, const std::filesystem::path& path);

}  // namespace mq::eval
