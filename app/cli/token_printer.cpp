#include "cli/token_printer.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

namespace mq::cli {

namespace {

// ANSI 256-colour for an average bit width: red (2) .. yellow .. green (8); unquantized white.
int bits_color(float bits) {
    if (bits > 8.5f) return 15;
    static const int ramp[] = {196, 202, 208, 214, 220, 226, 190, 154, 118, 82, 46};
    int i = static_cast<int>((bits - 2.0f) / 6.0f * 10.0f + 0.5f);
    return ramp[std::clamp(i, 0, 10)];
}

}  // namespace

void TokenPrinter::print(const rt::TokenEvent& ev) const {
    if (json_) {
        nlohmann::json depths = nlohmann::json::array();
        for (const auto& layer : ev.depths) {
            nlohmann::json row = nlohmann::json::array();
            for (uint8_t d : layer) row.push_back(d);
            depths.push_back(row);
        }
        nlohmann::json j{{"id", ev.id},
                         {"text", ev.text},
                         {"logprob", ev.logprob},
                         {"bits", ev.bits},
                         {"depths", depths}};
        if (ev.budget > 0) j["budget"] = ev.budget;  // the budget the token ran under
        std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else if (color_) {
        std::printf("\033[38;5;%dm%s\033[0m", bits_color(ev.bits), ev.text.c_str());
    } else {
        std::fputs(ev.text.c_str(), stdout);
    }
    std::fflush(stdout);
}

void TokenPrinter::print_stats(const rt::GenerationStats& s,
                               const rt::ModelSession& session) const {
    std::string bits = session.quantized()
                           ? fmt::format("{:.2f} bits average", s.mean_bits)
                           : "unquantized " + std::string(weights_ == "f16" ? "fp16" : "fp32");
    std::fprintf(stderr,
                 "\n[%u prompt tokens%s: %.1f tok/s | %u generated: %.1f tok/s | %s | stop: %s | "
                 "on %s]\n",
                 s.prompt_tokens,
                 s.reused_tokens ? fmt::format(" (+{} cached)", s.reused_tokens).c_str() : "",
                 s.prefill_tps(), s.generated, s.decode_tps(), bits.c_str(), s.stop_reason.c_str(),
                 session.device().name().c_str());
    if (s.speed_state) print_speed(s);
}

void TokenPrinter::print_speed(const rt::GenerationStats& s) {
    std::fprintf(stderr, "[speed target: %.1f tok/s achieved, mean budget %.2f bits, %s]\n",
                 s.decode_tps(), s.mean_budget, rt::speed_state_name(*s.speed_state));
}

std::string TokenPrinter::bits_legend() {
    std::string out = "bits: ";
    for (float b : {2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f})
        out += fmt::format("\033[38;5;{}m{:.0f}\033[0m ", bits_color(b), b);
    return out;
}

}  // namespace mq::cli
