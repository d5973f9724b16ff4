#pragma once
// Prints streamed tokens: coloured by their average bits on a terminal, or one JSON object per
// token with --json.
#include <cstdio>
#include <string>

#include "runtime/generator.hpp"

namespace mq::cli {

class TokenPrinter {
  public:
    TokenPrinter(bool json, bool color) : json_(json), color_(color) {}
    void print(const rt::TokenEvent& ev) const;
    void print_stats(const rt::GenerationStats& stats, const rt::ModelSession& session) const;
    static std::string bits_legend();

  private:
    bool json_, color_;
};

}  // namespace mq::cli
