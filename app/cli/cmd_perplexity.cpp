// mobiquant perplexity: perplexity of a text file with its standard error and achieved bits, and
// with --kl-from the mean KL divergence of every token's distribution from another model's.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "runtime/perplexity.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    std::string text;
    uint32_t window = 0;
    uint64_t max_tokens = 0;
    std::string kl_from;  // reference model (full precision) for the KL divergence
    bool json = false;
};

int run(const Options& o) {
    std::string text = mq::read_text_file(o.text);
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    auto session = o.model.open(device);
    std::unique_ptr<mq::ProgressBar> bar;
    auto progress_of = [&](const char* label) {
        return [&bar, label](uint64_t done, uint64_t total) {
            if (!bar) bar = std::make_unique<mq::ProgressBar>(label, total, "tokens");
            bar->update(done);
        };
    };
    // Encoded once: with --kl-from both models score exactly these tokens.
    const std::vector<int32_t> ids =
        mq::rt::perplexity_ids(session->tokenizer(), text, o.max_tokens);
    const int32_t bos = session->tokenizer().bos();
    mq::rt::ScoreCapture capture;
    mq::rt::TokenLogProbs reference;
    uint32_t window = o.window;
    if (!o.kl_from.empty()) {
        mq::rt::ModelSession ref(device, o.kl_from, {.context = session->forward().max_context()});
        const uint32_t vocab = ref.desc().vocab_size;
        if (vocab != session->desc().vocab_size)
            mq::fail("{} has a {}-token vocabulary, the model {}: no KL between them", o.kl_from,
                     vocab, session->desc().vocab_size);
        const uint64_t bytes = mq::rt::kept_log_prob_bytes(ids.size(), vocab);
        if (bytes > mq::rt::kMaxKeptLogProbBytes)
            mq::fail(
                "--kl-from keeps {} tokens x {} log-probabilities ({:.1f} GiB, limit 1): "
                "pass a smaller --max-tokens",
                ids.size(), vocab, bytes / 1073741824.0);
        // Both runs must cut the text into the same windows.
        if (!window)
            window = std::min(session->forward().max_context(), ref.forward().max_context());
        mq::rt::PolicyForward ref_forward(ref, mq::rt::DepthPolicy::uniform(4));
        mq::rt::perplexity_of_ids(ref_forward, ids, bos, window, progress_of("reference"),
                                  {.log_probs = &reference});
        if (bar) bar->finish();
        bar.reset();
        capture.kl_reference = &reference;
    }
    mq::rt::PolicyForward forward(*session, o.model.policy());
    auto r =
        mq::rt::perplexity_of_ids(forward, ids, bos, window, progress_of("perplexity"), capture);
    if (bar) bar->finish();
    if (o.json) {
        nlohmann::json j{
            {"ppl", r.ppl}, {"stderr", r.stderr_ppl}, {"bits", r.bits}, {"tokens", r.tokens}};
        if (capture.kl_reference) j["kl"] = r.kl;
        std::puts(j.dump().c_str());
    } else {
        std::printf("perplexity %.3f ± %.3f over %llu tokens at %s\n", r.ppl, r.stderr_ppl,
                    static_cast<unsigned long long>(r.tokens),
                    session->quantized() ? fmt::format("{:.2f} average bits", r.bits).c_str()
                                         : "full precision (fp32)");
        if (capture.kl_reference)
            std::printf("KL divergence from %s: %.4f millinats per token\n", o.kl_from.c_str(),
                        1e3 * r.kl);
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
        cmd.add_option("--kl-from", o->kl_from,
                       "Also the mean KL divergence of each token's next-token distribution from "
                       "this model's (e.g. the full-precision model a checkpoint came from)")
            ->check(CLI::ExistingPath);
        cmd.add_flag("--json", o->json, "Print {ppl, stderr, bits, tokens} (and kl, in nats)");
        return [o] { return run(*o); };
    }};

}  // namespace
