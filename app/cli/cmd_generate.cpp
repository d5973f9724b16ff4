// mobiquant generate: one prompt in, a stream of tokens out, each coloured by its bits.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "cli/sampling_options.hpp"
#include "cli/token_printer.hpp"
#include "runtime/generator.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    mq::rt::SamplerOptions sampling;
    std::string prompt = "It is a truth universally acknowledged";
    uint32_t tokens = 64;
    bool json = false;
    bool raw = false;
};

int run(const Options& o) {
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    auto session = o.model.open(device);
    auto generator = o.model.generator(*session);
    mq::rt::Generator& gen = *generator;
    mq::tok::EncodeOptions eo;
    eo.add_special = !o.raw;
    std::vector<int32_t> prompt = session->tokenizer().encode(o.prompt, eo);
    bool color = !o.json && isatty(STDOUT_FILENO);
    mq::cli::TokenPrinter printer(o.json, color, o.model.weights);
    gen.check_prompt(prompt);  // before the prompt is echoed
    if (!o.json) {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    auto stats = gen.generate(prompt, o.tokens, o.sampling,
                              [&](const mq::rt::TokenEvent& ev) { printer.print(ev); });
    if (!o.json) {
        std::puts("");
        printer.print_stats(stats, *session);
        if (color && session->quantized())
            std::fprintf(stderr, "%s\n", printer.bits_legend().c_str());
    }
    return 0;
}

mq::cli::Registration reg{
    "generate", "Generate text from a prompt, streaming each token with the bits it used",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        o->model.add_speed_target_to(cmd);
        cmd.add_option("-p,--prompt", o->prompt, "Prompt text")->capture_default_str();
        cmd.add_option("-n,--tokens", o->tokens, "Tokens to generate")
            ->check(CLI::Range(1u, 1000000u))
            ->capture_default_str();
        mq::cli::add_sampling_options(cmd, o->sampling);
        cmd.add_flag("--json", o->json,
                     "One JSON object per token: id, text, logprob, bits, depths [layer][linear]");
        cmd.add_flag("--raw", o->raw, "Do not add BOS/EOS to the prompt");
        return [o] { return run(*o); };
    }};

}  // namespace
