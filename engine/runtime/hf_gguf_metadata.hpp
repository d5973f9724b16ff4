#pragma once
// GGUF metadata (llama.cpp's keys) for a model opened from a Hugging Face directory, so that a
// file written from it (a MoBiQuant checkpoint) loads with the same description and tokenizes
// as the directory does: the architecture keys from its ModelDesc, the vocabulary from
// tokenizer.json, and the rope_freqs.weight tensor of llama3 rope scaling.
#include <string>

#include "formats/gguf.hpp"
#include "formats/model_loader.hpp"

namespace mq::rt {

// Metadata only (the tensor is added by add_hf_extra_tensors). mq::Error when the directory's
// tokenizer cannot be stated in GGUF metadata (a pre-tokenizer llama.cpp has no name for).
void write_hf_model_metadata(gguf::Writer& writer, const LoadedModel& model);
void add_hf_extra_tensors(gguf::Writer& writer, const LoadedModel& model);

// Fails unless the tokenizer written by write_hf_model_metadata encodes `text` to the same ids
// as the directory's own tokenizer (checked before quantizing: a checkpoint that tokenizes
// differently would be quietly wrong).
void check_hf_tokenizer_round_trip(const LoadedModel& model, const std::string& text);

}  // namespace mq::rt
