// mobiquant eval: the quality table of a MoBiQuant checkpoint on held-out text (docs/design.md
// section 6): full precision, uniform depths, bit-specific baselines, routed budgets and the
// same-allocation-random-tokens / mixed-depth controls at the routed bits.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/device_options.hpp"
#include "cli/job_printer.hpp"
#include "cli/model_options.hpp"
#include "common/bundled_assets.hpp"
#include "core/atomic_file.hpp"
#include "eval/quality_eval.hpp"
#include "vulkan/context.hpp"

namespace {

std::atomic<bool> g_interrupted{false};

struct Options {
    std::string model, fp_model, text, calib, out;
    mq::cli::DeviceOptions device;
    uint64_t max_tokens = 2048;
    std::vector<double> budgets;
    uint32_t seed = 1;
    bool json = false, save = false, routed_only = false;
};

// KL in millinats per token, or "-" when the table has none (too many tokens x vocabulary to keep).
std::string kl_cell(double kl) {
    return kl >= 0 ? fmt::format("{:8.4f}", 1e3 * kl) : "       -";
}

// How one measure of a point is printed: its name, the factor to its printed unit and decimals.
struct Measure {
    const char* name;
    double mq::eval::QualityPoint::*value;
    double mq::eval::QualityPoint::*se_vs_routed;
    double scale;
    int decimals;
};

// One row per budget: routed and the two controls at its bits, whether routed is best, and routed
// minus each control +- the paired standard error.
void print_comparison(const mq::eval::QualityTable& t, const Measure& m) {
    fmt::print(
        "\n{}\nbudget   bits    routed same-alloc      mix  best?  routed-same-alloc  "
        "routed-mix\n",
        m.name);
    for (size_t i = 0; i < t.routed.size(); ++i) {
        const auto &r = t.routed[i], &x = t.random[i], &mix = t.mix[i];
        const double rv = r.*m.value, xv = x.*m.value, mv = mix.*m.value;
        const int d = m.decimals;
        fmt::print(
            "{:6.1f} {:6.2f} {:9.{}f} {:9.{}f} {:9.{}f}  {:<4} {:+9.{}f}+-{:.{}f} "
            "{:+9.{}f}+-{:.{}f}\n",
            r.budget, r.bits, m.scale * rv, d, m.scale * xv, d, m.scale * mv, d,
            rv <= xv && rv <= mv ? "yes" : "no", m.scale * (rv - xv), d,
            m.scale * (x.*m.se_vs_routed), d, m.scale * (rv - mv), d,
            m.scale * (mix.*m.se_vs_routed), d);
    }
}

void print_table(const mq::eval::QualityTable& t) {
    std::printf(
        "Quality of %s on %s, %llu tokens (perplexity, lower is better; KL: mean KL\n"
        "divergence from full precision in millinats per token, lower is better)\n",
        t.model.c_str(), t.text.c_str(), static_cast<unsigned long long>(t.tokens));
    std::printf("full precision        %8.3f\n", t.fp_ppl);
    if (!t.uniform.empty())
        std::printf("\nbits   uniform depth         KL   bit-specific RTN         KL\n");
    for (size_t i = 0; i < t.uniform.size(); ++i) {
        const bool has_rtn = i < t.bit_specific.size();
        std::printf("%4.0f   %13.3f   %s   %16.3f   %s\n", t.uniform[i].bits, t.uniform[i].ppl,
                    kl_cell(t.uniform[i].kl).c_str(), has_rtn ? t.bit_specific[i].ppl : 0.0,
                    kl_cell(has_rtn ? t.bit_specific[i].kl : -1).c_str());
    }
    using P = mq::eval::QualityPoint;
    if (!t.routed.empty())
        std::printf(
            "\nControls at the routed bits: same-alloc = the same allocation, random tokens (each "
            "linear's\ndepth drawn per token from the distribution the routers gave it: what "
            "per-token routing\nadds is routed minus it); mix = the two neighbouring uniform "
            "depths mixed per token.\n");
    print_comparison(t, {"perplexity", &P::ppl, &P::se_vs_routed, 1.0, 3});
    if (!t.routed.empty() && t.routed[0].kl >= 0)
        print_comparison(t, {"KL, millinats per token", &P::kl, &P::kl_se_vs_routed, 1e3, 4});
}

int run(Options o) {
    namespace fs = std::filesystem;
    mq::eval::EvalOptions eo;
    eo.model = o.model.empty() ? mq::app::default_model_path() : fs::path(o.model);
    eo.fp_model = o.fp_model;
    fs::path text = o.text.empty() ? mq::app::asset_path("heldout.txt") : fs::path(o.text);
    fs::path calib = o.calib.empty() ? mq::app::asset_path("calibration.txt") : fs::path(o.calib);
    eo.text = mq::read_text_file(text);
    eo.text_name = text.filename().string();
    eo.calibration_text = mq::read_text_file(calib);
    eo.max_tokens = o.max_tokens;
    eo.budgets = o.budgets;
    eo.seed = o.seed;
    eo.routed_only = o.routed_only;
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.device.open(ctx);
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    mq::cli::JobPrinter printer("eval");
    mq::eval::QualityTable table;
    try {
        table = mq::eval::run_eval(device, eo, std::ref(printer), &g_interrupted);
    } catch (const mq::Cancelled&) {
        printer.finish();
        std::fprintf(stderr, "interrupted\n");
        return 130;
    }
    printer.finish();
    if (o.json)
        std::puts(table.to_json().dump().c_str());
    else
        print_table(table);
    if (o.save || !o.out.empty()) {
        fs::path path = o.out.empty() ? mq::eval::quality_table_path(eo.model) : fs::path(o.out);
        mq::eval::save_quality_table(table, path);
        std::fprintf(stderr, "saved %s\n", path.c_str());
    }
    return 0;
}

mq::cli::Registration reg{
    "eval", "Quality table of a MoBiQuant checkpoint: routed budgets against baselines",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        cmd.add_option(
            "-m,--model", o->model,
            std::string("MoBiQuant checkpoint (default: ") + mq::app::kDefaultModelText + ")");
        cmd.add_option("--fp-model", o->fp_model,
                       "The plain model it was made from (default: mobiquant.source beside it)");
        cmd.add_option("-t,--text", o->text, "Held-out text (default: assets/heldout.txt)")
            ->check(CLI::ExistingFile);
        cmd.add_option("--calib", o->calib,
                       "Calibration text for the bit-specific baselines (default: "
                       "assets/calibration.txt)")
            ->check(CLI::ExistingFile);
        cmd.add_option("--max-tokens", o->max_tokens, "Tokens scored per configuration (0 = all)")
            ->capture_default_str();
        cmd.add_option("--budgets", o->budgets, "Routed budgets (default: 2.0 2.5 ... 8.0)")
            ->check(CLI::Range(2.0, 8.0));
        cmd.add_option("--seed", o->seed, "Seed of the random-depth control")
            ->capture_default_str();
        cmd.add_flag("--routed-only", o->routed_only,
                     "Only full precision, the routed budgets and their controls (quick runs)");
        cmd.add_flag("--json", o->json, "Print the table as one JSON object");
        cmd.add_flag("--save", o->save, "Save the table beside the model (<model>.quality.json)");
        cmd.add_option("--out", o->out, "Save the table to this JSON file");
        o->device.add_to(cmd);
        return [o] { return run(*o); };
    }};

}  // namespace
