#include "runtime/model_session.hpp"

#include "core/error.hpp"
#include "tokenizer/spec.hpp"

namespace mq::rt {

ModelSession::ModelSession(vk::Context& ctx, const std::filesystem::path& path,
                           SessionOptions options)
    : ctx_(ctx), model_(LoadedModel::open(path)) {
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

    say("reading the weights");
    weights_ = ModelWeights::load(model_);
    if (options.slice_plain_model && !weights_.sliced()) {
        say("slicing the weights into 2-bit planes (MoBiSlice)");
        weights_.slice_all();
    }
    say("uploading to the GPU");
    ForwardOptions fo;
    fo.max_context = options.context;
    fo.max_batch = options.batch;
    fo.dense_format = options.dense_format;
    fo.head_8bit = options.head_8bit;
    forward_ = std::make_unique<VulkanForward>(ctx, weights_, fo);
    // The GPU holds its own copy now; keep only what the reference paths need.
    for (auto& layer : weights_.layers)
        for (auto& lin : layer.linear)
            if (lin.sliced) lin.dense = {};
}

ModelSession::~ModelSession() = default;

tok::TokenizerSpec load_tokenizer_spec_of(const LoadedModel& model) {
    if (model.gguf()) return tok::spec_from_gguf(*model.gguf());
    return tok::spec_from_hf_dir(model.path());
}

}  // namespace mq::rt
