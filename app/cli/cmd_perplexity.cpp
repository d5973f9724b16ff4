// mobiquant perplexity: perplexity of a text file with its standard error and achieved bits.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/atomic_file.hpp"
#include "core/progress.hpp"
#include "runtime/perplexity.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    std::string text;
    uint32_t window = 0;
    uint64_t max_tokens = 0;
    bool json = false;
};

int run(const Options& o) {
    std::string text = mq::read_text_file(o.text);
    mq::vk::Context ctx(o.model.device.context_options());
    auto session = o.model.open(ctx);
    std::unique_ptr<mq::ProgressBar> bar;
    auto r = mq::rt::perplexity(*session, text, o.model.policy(), o.window, o.max_tokens,
                                [&](uint64_t done, uint64_t total) {
                                    if (!bar)
                                        bar = std::make_unique<mq::ProgressBar>("perplexity", total,
                                                                                "tokens");
                                    bar->update(done);
                                });
    if (bar) bar->finish();
    if (o.json) {
        nlohmann::json j{
            {"ppl", r.ppl}, {"stderr", r.stderr_ppl}, {"bits", r.bits}, {"tokens", r.tokens}};
        std::puts(j.dump().c_str());
    } else {
        std::printf("perplexity %.3f ± %.3f over %llu tokens at %s\n", r.ppl, r.stderr_ppl,
                    static_cast<unsigned long long>(r.tokens),
                    session->quantized() ? fmt::format("{:.2f} average bits", r.bits).c_str()
                                         : "full precision (fp32)");
    }
    return 0;
}

mq::cli::Registration reg{
    "perplexity", "Perplexity of a text file, with standard error and achieved bits",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        cmd.add_option("-t,--text", o->text, "UTF-8 text file")
            ->required()
            ->check(CLI::ExistingFile);
        cmd.add_option("--window", o->window, "Tokens per window (default: the context)");
        cmd.add_option("--max-tokens", o->max_tokens, "Score at most this many tokens");
        cmd.add_flag("--json", o->json, "Print {ppl, stderr, bits, tokens}");
        return [o] { return run(*o); };
    }};

}  // namespace
