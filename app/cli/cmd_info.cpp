// `mobiquant info --model PATH`: what a model file holds (architecture, sizes, parameters,
// tokenizer, tensors), from a GGUF file or a Hugging Face directory.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "formats/model_loader.hpp"
#include "formats/model_summary.hpp"

namespace {

struct InfoOptions {
    std::string model;
    bool json = false;
    bool no_tensors = false;
};

mq::cli::Registration reg{
    "info", "Describe a model: architecture, sizes, parameters, tokenizer and tensors",
    [](CLI::App& cmd) {
        auto opts = std::make_shared<InfoOptions>();
        cmd.add_option("-m,--model", opts->model,
                       "GGUF file or Hugging Face directory (config.json + *.safetensors)")
            ->required();
        cmd.add_flag("--json", opts->json, "Print machine-readable JSON instead of text");
        cmd.add_flag("--no-tensors", opts->no_tensors, "Leave out the tensor list");
        return [opts] {
            mq::LoadedModel model = mq::LoadedModel::open(opts->model);
            if (opts->json) {
                nlohmann::json j = mq::model_info_json(model);
                if (opts->no_tensors) j.erase("tensors");
                std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
                std::printf("%s\n", text.c_str());
            } else {
                std::fputs(mq::model_info_text(model, !opts->no_tensors).c_str(), stdout);
            }
            return 0;
        };
    }};

}  // namespace
