// SentencePiece .model files (a ModelProto in protobuf wire format) -> TokenizerSpec.
// Only the fields a BPE tokenizer needs are read; every length is checked against the input.
#include <cstring>

#include "core/error.hpp"
#include "tokenizer/spec.hpp"

namespace mq::tok {

namespace {
class ProtoReader {
  public:
    ProtoReader(std::span<const std::byte> bytes, std::string_view name, std::string_view what)
        : data_(reinterpret_cast<const uint8_t*>(bytes.data())),
          size_(bytes.size()),
          name_(name),
          what_(what) {}

    bool done() const { return pos_ >= size_; }
    size_t offset() const { return pos_; }

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= size_) bad("varint runs past the end");
            const uint8_t b = data_[pos_++];
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        bad("varint is longer than 10 bytes");
    }
    // Returns (field number, wire type).
    std::pair<uint32_t, uint32_t> tag() {
        const uint64_t t = varint();
        return {static_cast<uint32_t>(t >> 3), static_cast<uint32_t>(t & 7)};
    }
    std::span<const std::byte> bytes() {
        const uint64_t len = varint();
        if (len > size_ - pos_) bad("length-delimited field of {} bytes runs past the end", len);
        std::span<const std::byte> out(reinterpret_cast<const std::byte*>(data_ + pos_), len);
        pos_ += len;
        return out;
    }
    float fixed32_float() {
        if (size_ - pos_ < 4) bad("fixed32 field runs past the end");
        uint32_t u = 0;
        for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
        pos_ += 4;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    void skip(uint32_t wire) {
        switch (wire) {
            case 0:
                varint();
                break;
            case 1:
                if (size_ - pos_ < 8) bad("fixed64 field runs past the end");
                pos_ += 8;
                break;
            case 2:
                bytes();
                break;
            case 5:
                if (size_ - pos_ < 4) bad("fixed32 field runs past the end");
                pos_ += 4;
                break;
            default:
                bad("unsupported protobuf wire type {}", wire);
        }
    }
    template <typename... Args>
    [[noreturn]] void bad(fmt::format_string<Args...> f, Args&&... args) const {
        fail("{}: not a valid SentencePiece model: {} at offset {} of {}: {}", name_, what_, pos_,
             size_, fmt::format(f, std::forward<Args>(args)...));
    }

  private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    std::string_view name_, what_;
};

std::string as_string(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
}  // namespace

TokenizerSpec spec_from_sentencepiece(std::span<const std::byte> proto, std::string_view name) {
    TokenizerSpec s;
    s.model = "llama";
    int64_t model_type = 1;  // UNIGRAM is protobuf's default
    bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
    bool treat_ws_as_suffix = false;
    std::string normalizer_name;
    size_t charsmap_size = 0;

    ProtoReader top(proto, name, "ModelProto");
    while (!top.done()) {
        const auto [field, wire] = top.tag();
        if (field == 1 && wire == 2) {  // repeated SentencePiece pieces
            ProtoReader p(top.bytes(), name, "SentencePiece");
            std::string piece;
            float score = 0;
            int64_t type = 1;
            while (!p.done()) {
                const auto [f, w] = p.tag();
                if (f == 1 && w == 2)
                    piece = as_string(p.bytes());
                else if (f == 2 && w == 5)
                    score = p.fixed32_float();
                else if (f == 3 && w == 0)
                    type = static_cast<int64_t>(p.varint());
                else
                    p.skip(w);
            }
            if (type < 1 || type > 6) p.bad("piece {} has unknown type {}", s.tokens.size(), type);
            s.tokens.push_back(std::move(piece));
            s.scores.push_back(score);
            s.types.push_back(static_cast<TokenType>(type));
        } else if (field == 2 && wire == 2) {  // TrainerSpec
            ProtoReader t(top.bytes(), name, "TrainerSpec");
            while (!t.done()) {
                const auto [f, w] = t.tag();
                if (f == 3 && w == 0)
                    model_type = static_cast<int64_t>(t.varint());
                else if (f == 24 && w == 0)
                    treat_ws_as_suffix = t.varint() != 0;
                else
                    t.skip(w);
            }
        } else if (field == 3 && wire == 2) {  // NormalizerSpec
            ProtoReader n(top.bytes(), name, "NormalizerSpec");
            while (!n.done()) {
                const auto [f, w] = n.tag();
                if (f == 1 && w == 2)
                    normalizer_name = as_string(n.bytes());
                else if (f == 2 && w == 2)
                    charsmap_size = n.bytes().size();
                else if (f == 3 && w == 0)
                    add_dummy_prefix = n.varint() != 0;
                else if (f == 4 && w == 0)
                    remove_extra_whitespaces = n.varint() != 0;
                else if (f == 5 && w == 0)
                    escape_whitespaces = n.varint() != 0;
                else
                    n.skip(w);
            }
        } else {
            top.skip(wire);
        }
    }
    if (s.tokens.empty()) fail("{}: SentencePiece model has no pieces", name);
    if (model_type != 2)
        fail("{}: SentencePiece model type {} is not supported (only BPE models, type 2)", name,
             model_type == 1 ? "unigram" : std::to_string(model_type));
    if (charsmap_size > 0 && normalizer_name != "identity")
        fail(
            "{}: SentencePiece normalization rule \"{}\" is not supported (train with "
            "--normalization_rule_name=identity, as Llama's tokenizer is)",
            name, normalizer_name);
    if (!escape_whitespaces || treat_ws_as_suffix)
        fail(
            "{}: SentencePiece models without whitespace escaping or with whitespace as suffix "
            "are not supported",
            name);
    s.add_space_prefix = add_dummy_prefix;
    s.remove_extra_whitespaces = remove_extra_whitespaces;
    s.add_bos = true;  // what llama.cpp and Hugging Face do for SentencePiece LLaMA vocabularies
    for (int32_t i = 0; i < s.size(); ++i) {
        const TokenType t = s.types[i];
        if (t == TokenType::Unknown && s.unk_id < 0) s.unk_id = i;
        if (t == TokenType::Control && s.tokens[i] == "<s>") s.bos_id = i;
        if (t == TokenType::Control && s.tokens[i] == "</s>") s.eos_id = i;
        if (t == TokenType::Control && s.tokens[i] == "<pad>") s.pad_id = i;
    }
    return s;
}

}  // namespace mq::tok
