#include "runtime/hf_gguf_metadata.hpp"

#include "core/error.hpp"
#include "runtime/model_session.hpp"
#include "tokenizer/spec.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mq::rt {

void write_hf_model_metadata(gguf::Writer& w, const LoadedModel& model) {
    if (!model.hf()) fail("{} is not a Hugging Face directory", model.path().string());
    const ModelDesc& d = model.desc();
    const std::string a = d.arch + ".";
    w.set_string("general.architecture", d.arch);
    w.set_string("general.name", d.name.empty() ? model.path().filename().string() : d.name);
    w.set_u32(a + "context_length", d.context_length);
    w.set_u32(a + "embedding_length", d.dim);
    w.set_u32(a + "block_count", d.n_layers);
    w.set_u32(a + "feed_forward_length", d.ffn_dim);
    w.set_u32(a + "attention.head_count", d.n_heads);
    w.set_u32(a + "attention.head_count_kv", d.n_kv_heads);
    w.set_u32(a + "attention.key_length", d.head_dim);
    w.set_u32(a + "attention.value_length", d.head_dim);
    w.set_u32(a + "rope.dimension_count", d.rope_dim);
    w.set_f32(a + "rope.freq_base", d.rope_theta);
    w.set_f32(a + "attention.layer_norm_rms_epsilon", d.rms_eps);
    w.set_u32(a + "vocab_size", d.vocab_size);
    if (d.rope_scaling.type == RopeScalingType::Linear) {
        w.set_string(a + "rope.scaling.type", "linear");
        w.set_f32(a + "rope.scaling.factor", d.rope_scaling.factor);
    } else if (d.rope_scaling.type == RopeScalingType::Llama3) {
        w.set_f32(a + "rope.scaling.factor", d.rope_scaling.factor);
        w.set_u32(a + "rope.scaling.original_context_length", d.rope_scaling.original_context);
    }
    tok::TokenizerSpec spec = load_tokenizer_spec_of(model);
    if (spec.model == "gpt2" && spec.pre == "default" && !spec.pre_patterns.empty())
        fail(
            "{}: the tokenizer's pre-tokenizer is not one llama.cpp names, so a GGUF file cannot "
            "state it; convert the model with llama.cpp's convert_hf_to_gguf.py and quantize "
            "that file",
            model.path().string());
    // The description's BOS/EOS (config.json) are the ones the directory runs with.
    if (d.bos_id >= 0) spec.bos_id = static_cast<int32_t>(d.bos_id);
    if (d.eos_id >= 0) spec.eos_id = static_cast<int32_t>(d.eos_id);
    tok::write_gguf_metadata(w, spec);
}

void add_hf_extra_tensors(gguf::Writer& w, const LoadedModel& model) {
    const ModelDesc& d = model.desc();
    if (d.rope_scaling.type == RopeScalingType::Llama3)
        w.add_tensor_f32("rope_freqs.weight", {d.rope_freq_factors.size()}, d.rope_freq_factors);
}

void check_hf_tokenizer_round_trip(const LoadedModel& model, const std::string& text) {
    gguf::Writer w;
    write_hf_model_metadata(w, model);
    gguf::File f = gguf::File::from_bytes(w.to_bytes(), "checkpoint metadata");
    tok::Tokenizer stored(tok::spec_from_gguf(f)), own(load_tokenizer_spec_of(model));
    tok::EncodeOptions eo;
    eo.add_special = false;
    if (stored.encode(text, eo) != own.encode(text, eo))
        fail(
            "{}: its tokenizer does not survive conversion to GGUF metadata (the ids differ on "
            "the calibration text); convert the model with llama.cpp's convert_hf_to_gguf.py "
            "and quantize that file",
            model.path().string());
}

}  // namespace mq::rt
