// mobiquant whatif: one position of a text re-run at uniform depth 1-4 and at the routed depths,
// with each one's top next-token candidates and KL divergence from depth 4.
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/error.hpp"
#include "runtime/generator.hpp"
#include "runtime/whatif.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    std::string prompt = "It is a truth universally acknowledged";
    uint32_t at = 0;
    uint32_t top = 5;
    bool json = false;
};

// A token's text on one line of the table: control characters escaped, quoted.
std::string shown(const std::string& text) {
    std::string out = "'";
    for (unsigned char c : text) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    return out + "'";
}

nlohmann::json to_json(const mq::rt::WhatIfResult& w, const std::string& actual_text) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : w.rows) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& c : r.top) top.push_back({{"id", c.id}, {"text", c.text}, {"p", c.prob}});
        nlohmann::json row{{"label", r.label}, {"bits", r.bits}, {"kl", r.kl}, {"top", top}};
        if (w.actual >= 0) row["p_actual"] = r.actual_prob;
        rows.push_back(row);
    }
    nlohmann::json j{{"at", w.at}, {"rows", rows}};
    if (w.actual >= 0) j["actual"] = {{"id", w.actual}, {"text", actual_text}};
    return j;
}

int run(Options o) {
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    // The routed row needs a budget; without --budget or --depth it is 4 bits.
    if (!o.model.budget && !o.model.depth) o.model.budget = 4.0f;
    auto session = o.model.open(device);
    mq::rt::Generator gen(*session, o.model.policy());
    std::vector<int32_t> prompt = session->tokenizer().encode(o.prompt, {});
    gen.check_prompt(prompt);
    if (o.at >= session->forward().max_context())
        mq::fail("--at {} is beyond the context of {}", o.at, session->forward().max_context());
    std::vector<uint32_t> seq(prompt.begin(), prompt.end());
    // Greedy generation until the sequence reaches position `at` (its token, when there is one).
    if (seq.size() <= o.at) {
        mq::rt::SamplerOptions greedy;
        greedy.temperature = 0;
        gen.generate(prompt, static_cast<uint32_t>(o.at + 1 - seq.size()), greedy,
                     [&](const mq::rt::TokenEvent& ev) { seq.push_back(ev.id); });
    }
    if (o.at > seq.size())
        mq::fail("the text ended at {} tokens, before position {}", seq.size(), o.at);
    mq::rt::WhatIfResult w = mq::rt::what_if(gen, seq, o.at, o.top);

    const auto& tokenizer = session->tokenizer();
    mq::tok::DecodeOptions dopt;
    dopt.strip_leading_space = false;
    auto text_of = [&](size_t from, size_t to) {
        std::vector<int32_t> ids(seq.begin() + from, seq.begin() + to);
        dopt.strip_leading_space = from == 0;  // the text's start, not a token's own space
        return tokenizer.decode(ids, dopt);
    };
    const std::string actual = w.actual >= 0 ? text_of(o.at, o.at + 1) : "";
    if (o.json) {
        std::puts(to_json(w, actual)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                      .c_str());
        return 0;
    }
    std::printf("position %u after: %s\n", o.at, shown(text_of(0, o.at)).c_str());
    if (w.actual >= 0) std::printf("token %u was: %s\n", o.at, shown(actual).c_str());
    std::printf("\n%-22s %6s %10s %s  top %u candidates (probability)\n", "depths", "bits",
                "KL(d4||.)", w.actual >= 0 ? "p(token)" : "", o.top);
    for (const auto& r : w.rows) {
        std::string cands;
        for (const auto& c : r.top) cands += fmt::format("  {} {:.3f}", shown(c.text), c.prob);
        std::string p = w.actual >= 0 ? fmt::format("{:8.4f}", r.actual_prob) : "";
        std::printf("%-22s %6.2f %10.5f %s%s\n", r.label.c_str(), r.bits, r.kl, p.c_str(),
                    cands.c_str());
    }
    std::printf("\nKL in nats; positions count from 0 at the first prompt token (BOS included).\n");
    return 0;
}

mq::cli::Registration reg{
    "whatif",
    "Re-run one position at uniform depth 1-4 and at the routed depths: top candidates and KL "
    "from depth 4",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        cmd.add_option("-p,--prompt", o->prompt, "Text; generated on greedily to reach --at")
            ->capture_default_str();
        cmd.add_option("--at", o->at,
                       "Position N whose next-token distribution is compared: tokens count from "
                       "0 at the first prompt token (BOS included); N-1 is re-run")
            ->required()
            ->check(CLI::Range(1u, 1000000u));
        cmd.add_option("--top", o->top, "Candidates per row")
            ->check(CLI::Range(1u, 50u))
            ->capture_default_str();
        cmd.add_flag("--json", o->json,
                     "One JSON object: at, actual {id, text}, rows [{label, bits, kl, p_actual, "
                     "top [{id, text, p}]}]");
        return [o] { return run(*o); };
    }};

}  // namespace
