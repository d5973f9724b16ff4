#include "eval/quality_table.hpp"

#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace mq::eval {

namespace {
nlohmann::json points_json(const std::vector<QualityPoint>& points, bool with_budget) {
    auto arr = nlohmann::json::array();
    for (const QualityPoint& p : points) {
        nlohmann::json o = {{"bits", p.bits}, {"ppl", p.ppl}};
        if (with_budget) o["budget"] = p.budget;
        if (p.se_vs_routed > 0) o["se_vs_routed"] = p.se_vs_routed;
        if (p.kl >= 0) o["kl"] = p.kl;
        if (p.kl_se_vs_routed > 0) o["kl_se_vs_routed"] = p.kl_se_vs_routed;
        arr.push_back(o);
    }
    return arr;
}

std::vector<QualityPoint> points_from(const nlohmann::json& j, const char* key) {
    std::vector<QualityPoint> out;
    if (!j.contains(key)) return out;
    if (!j[key].is_array()) fail("quality table: \"{}\" is not an array", key);
    for (const auto& o : j[key]) {
        if (!o.is_object() || !o.contains("bits") || !o.contains("ppl") || !o["bits"].is_number() ||
            !o["ppl"].is_number())
            fail("quality table: an entry of \"{}\" lacks numeric bits and ppl", key);
        QualityPoint p;
        p.bits = o["bits"].get<double>();
        p.ppl = o["ppl"].get<double>();
        auto optional_number = [&](const char* name, double& into) {
            if (o.contains(name) && o[name].is_number()) into = o[name].get<double>();
        };
        optional_number("budget", p.budget);
        optional_number("se_vs_routed", p.se_vs_routed);
        optional_number("kl", p.kl);
        optional_number("kl_se_vs_routed", p.kl_se_vs_routed);
        out.push_back(p);
    }
    return out;
}
}  // namespace

nlohmann::json QualityTable::to_json() const {
    return {{"model", model},
            {"text", text},
            {"tokens", tokens},
            {"fp_ppl", fp_ppl},
            {"uniform", points_json(uniform, false)},
            {"bit_specific", points_json(bit_specific, false)},
            {"routed", points_json(routed, true)},
            {"random", points_json(random, false)},
            {"mix", points_json(mix, false)}};
}

QualityTable QualityTable::from_json(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("fp_ppl") || !j["fp_ppl"].is_number())
        fail("quality table: not an object with a numeric \"fp_ppl\"");
    QualityTable t;
    t.model = j.value("model", "");
    t.text = j.value("text", "");
    t.tokens = j.value("tokens", uint64_t{0});
    t.fp_ppl = j["fp_ppl"].get<double>();
    t.uniform = points_from(j, "uniform");
    t.bit_specific = points_from(j, "bit_specific");
    t.routed = points_from(j, "routed");
    t.random = points_from(j, "random");
    t.mix = points_from(j, "mix");
    return t;
}

std::filesystem::path quality_table_path(const std::filesystem::path& model) {
    std::filesystem::path p = model;
    if (p.extension() == ".gguf") p.replace_extension();
    p += ".quality.json";
    return p;
}

std::optional<QualityTable> load_quality_table(const std::filesystem::path& model) {
    std::filesystem::path p = quality_table_path(model);
    if (!std::filesystem::exists(p)) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(read_text_file(p), nullptr, false);
    if (j.is_discarded()) fail("{} is not valid JSON", p.string());
    return QualityTable::from_json(j);
}

void save_quality_table(const QualityTable& table, const std::filesystem::path& path) {
    AtomicFile f(path);
    std::string s = table.to_json().dump(2) + "\n";
    f.write(s.data(), s.size());
    f.commit();
}

}  // namespace mq::eval
