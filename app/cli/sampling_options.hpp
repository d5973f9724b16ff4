#pragma once
// --temp/--top-k/--top-p/--min-p/--repeat-penalty/--seed, for generate and chat.
#include <CLI/CLI.hpp>

#include "runtime/sampler.hpp"

namespace mq::cli {

inline void add_sampling_options(CLI::App& cmd, rt::SamplerOptions& s) {
    cmd.add_option("--temp", s.temperature, "Sampling temperature (0 = greedy)")
        ->capture_default_str();
    cmd.add_option("--top-k", s.top_k, "Keep the k most likely tokens (0 = off)")
        ->capture_default_str();
    cmd.add_option("--top-p", s.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
    cmd.add_option("--min-p", s.min_p, "Drop tokens below min-p times the best one (0 = off)")
        ->capture_default_str();
    cmd.add_option("--repeat-penalty", s.repetition_penalty, "Repetition penalty (1 = off)")
        ->capture_default_str();
    cmd.add_option("--seed", s.seed, "Random seed (0 = random)")->capture_default_str();
}

}  // namespace mq::cli
