#include "runtime/model_session.hpp"

#include "core/error.hpp"
#include "runtime/router.hpp"
#include "runtime/weight_source.hpp"
#include "tokenizer/spec.hpp"

namespace mq::rt {

ModelSession::ModelSession(const ComputeDevice& device, const std::filesystem::path& path,
                           SessionOptions options)
    : device_(device), model_(LoadedModel::open(path)) {
    auto say = [&](const std::string& s) {
        if (options.progress) options.progress(s);
    };
    say("reading the tokenizer");
    tokenizer_ = std::make_unique<tok::Tokenizer>(load_tokenizer_spec_of(model_));
    std::string template_source = model_.gguf()
                                      ? model_.gguf()->get_string_or("tokenizer.chat_template", "")
                                      : model_.hf()->chat_template();
    chat_ = std::make_unique<tok::ChatTemplate>(
        tok::ChatTemplate::detect(template_source, *tokenizer_));
    if (tokenizer_->n_vocab() > static_cast<int32_t>(desc().vocab_size))
        fail("the tokenizer has {} tokens but the model's embedding only {}", tokenizer_->n_vocab(),
             desc().vocab_size);

    // Weights stream from the file's mapping to the forward, tensor by tensor; the session keeps
    // only the routers on the CPU.
    FileWeightSource source(model_, options.slice_plain_model);
    routers_ = source.routers();
    ForwardOptions fo;
    fo.max_context = options.context;
    fo.max_batch = options.batch;
    fo.dense_format = options.dense_format;
    fo.head_8bit = options.head_8bit;
    fo.head_depth = options.head_depth;
    fo.progress = options.progress;
    forward_ = make_forward(device, source, fo);
}

ModelSession::~ModelSession() = default;

tok::TokenizerSpec load_tokenizer_spec_of(const LoadedModel& model) {
    if (model.gguf()) return tok::spec_from_gguf(*model.gguf());
    return tok::spec_from_hf_dir(model.path());
}

}  // namespace mq::rt
