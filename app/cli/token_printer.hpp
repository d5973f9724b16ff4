#pragma once
// Prints streamed tokens: coloured by their average bits on a terminal, or one JSON object per
// token with --json.
#include <cstdio>
#include <string>
#include <utility>

#include "runtime/generator.hpp"

namespace mq::cli {

class TokenPrinter {
  public:
    // weights: the --weights storage of unquantized models ("f32" or "f16"), named in the stats.
    TokenPrinter(bool json, bool color, std::string weights = "f32")
        : json_(json), color_(color), weights_(std::move(weights)) {}
    void print(const rt::TokenEvent& ev) const;
    void print_stats(const rt::GenerationStats& stats, const rt::ModelSession& session) const;
    static std::string bits_legend();
    // Under a tokens/s target: the speed achieved and the mean budget chosen.
    static void print_speed(const rt::GenerationStats& stats);

  private:
    bool json_, color_;
    std::string weights_;
};

}  // namespace mq::cli
