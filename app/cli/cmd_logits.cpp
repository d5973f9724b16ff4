// mobiquant logits: float32 logits of every position, for debugging and cross-checks.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/command.hpp"
#include "cli/model_options.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "runtime/policy_forward.hpp"

namespace {

struct Options {
    mq::cli::ModelOptions model;
    std::string ids;
    std::string out;
};

int run(const Options& o) {
    std::vector<uint32_t> ids;
    std::istringstream in(o.ids);
    std::string tok;
    while (in >> tok) {
        try {
            size_t used = 0;
            unsigned long v = std::stoul(tok, &used);
            if (used != tok.size() || v > UINT32_MAX) throw std::invalid_argument(tok);
            ids.push_back(static_cast<uint32_t>(v));
        } catch (const std::exception&) {
            mq::fail("\"{}\" is not a token id", tok);
        }
    }
    if (ids.empty()) mq::fail("--ids has no token ids");
    std::unique_ptr<mq::vk::Context> ctx;
    const mq::rt::ComputeDevice device = o.model.device.open(ctx);
    auto session = o.model.open(device);
    // With --budget a checkpoint's routers choose the depths (a plain model mixes neighbours).
    mq::rt::PolicyForward forward(*session, o.model.policy());
    std::vector<float> logits = forward.run(ids, 0, true).logits;
    mq::AtomicFile f(o.out);
    f.write(logits.data(), logits.size() * sizeof(float));
    f.commit();
    std::fprintf(stderr, "wrote %zu x %u float32 logits to %s\n", ids.size(),
                 session->desc().vocab_size, o.out.c_str());
    return 0;
}

mq::cli::Registration reg{
    "logits", "Write the float32 logits of every position (positions x vocab)", [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        o->model.add_to(cmd);
        cmd.add_option("--ids", o->ids, "Token ids, space-separated")->required();
        cmd.add_option("-o,--out", o->out, "Output file")->required();
        return [o] { return run(*o); };
    }};

}  // namespace
