#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "core/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace mq::tok {

namespace {
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

int hex_byte_token(std::string_view text) {  // "<0x0A>" -> 10, else -1
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    int v = 0;
    for (char c : text.substr(3, 2)) {
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else
            return -1;
    }
    return v;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(s.substr(pos));
    return out;
}

// NFC of the well-formed runs; ill-formed bytes pass through unchanged.
std::string nfc_lenient(std::string_view text) {
    std::string out;
    for_each_utf8_run(text, [&](std::string_view run, bool well_formed) {
        out += well_formed ? nfc(run) : std::string(run);
    });
    return out;
}

// A byte-level token's text (each byte drawn as one character, GPT-2 style) back to its bytes;
// characters that stand for no byte are kept as they are.
std::string byte_level_bytes(const std::string& text) {
    std::string bytes;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t len = utf8_char_len(text, pos);
        if (!len) {
            bytes += text[pos++];
            continue;
        }
        const auto* u = reinterpret_cast<const uint8_t*>(text.data() + pos);
        uint32_t cp = len == 1 ? u[0] : len == 2 ? ((u[0] & 0x1F) << 6) | (u[1] & 0x3F) : 0x110000;
        const int b = unicode_to_byte(cp);
        if (b >= 0)
            bytes += static_cast<char>(b);
        else
            bytes.append(text, pos, len);
        pos += len;
    }
    return bytes;
}

const char* const kEndMarkers[] = {"<|eot_id|>",      "<|eom_id|>",    "<|im_end|>",
                                   "<|end_of_text|>", "<|endoftext|>", "<|end|>",
                                   "<end_of_turn>",   "</s>"};
}  // namespace

TokenType TokenizerSpec::type(int32_t id) const {
    if (id < 0 || id >= size()) return TokenType::Undefined;
    if (!types.empty()) return types[id];
    if (id == unk_id) return TokenType::Unknown;
    if (id == bos_id || id == eos_id) return TokenType::Control;
    if (model == "llama" && hex_byte_token(tokens[id]) >= 0) return TokenType::Byte;
    return TokenType::Normal;
}

int32_t TokenizerSpec::find(std::string_view text) const {
    for (size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] == text) return static_cast<int32_t>(i);
    return -1;
}

struct Tokenizer::Impl {
    TokenizerSpec spec;
    bool byte_level = false;  // "gpt2"
    bool use_merges = false;  // pair priorities from merge ranks instead of scores
    std::vector<TokenType> types;
    std::vector<std::string> pieces;
    std::vector<uint8_t> strippable;  // piece starts with the dummy-prefix space
    std::vector<uint8_t> eog;
    std::unordered_map<std::string_view, int32_t> vocab;      // every entry
    std::unordered_map<std::string_view, int32_t> mergeable;  // SentencePiece merge targets
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merge_table;  // -> (rank, result)
    std::array<int32_t, 256> byte_token{};
    struct Special {
        std::string_view text;
        int32_t id;
        bool always;  // user-defined: matched even without parse_special
    };
    std::vector<Special> specials;
    std::array<std::vector<uint32_t>, 256> specials_by_first_byte;  // longest first
    // SentencePiece matches user-defined pieces inside its merge loop instead (as frozen
    // symbols on the normalized text), so they are kept apart for "llama" vocabularies.
    std::array<std::vector<uint32_t>, 256> user_defined_by_first_byte;
    std::unique_ptr<PreTokenizer> pre;

    void build();
    void check_spec() const;
    void index_tokens();
    void find_byte_tokens();
    void index_merges();
    void index_specials();
    void mark_end_of_generation();
    void encode_fragment(std::string_view text, std::vector<int32_t>& out,
                         std::unordered_map<std::string, std::vector<int32_t>>& cache) const;
    void encode_spm(std::string_view normalized, std::vector<int32_t>& out) const;
    void encode_byte_level_word(std::string_view word, std::vector<int32_t>& out) const;
    void push_bytes(std::string_view bytes, std::vector<int32_t>& out) const;
    void check_id(int32_t id) const {
        if (id < 0 || id >= static_cast<int32_t>(pieces.size()))
            fail("token id {} is out of range (vocabulary of {})", id, pieces.size());
    }
    bool strips(int32_t id) const { return strippable[id] != 0; }
};

static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

void Tokenizer::Impl::build() {
    check_spec();
    byte_level = spec.model == "gpt2";
    use_merges = byte_level || !spec.merges.empty();
    index_tokens();
    find_byte_tokens();
    index_merges();
    index_specials();
    mark_end_of_generation();
    if (byte_level) {
        pre = std::make_unique<PreTokenizer>(
            spec.pre_patterns.empty() ? pretokenizer_patterns(spec.pre) : spec.pre_patterns);
    }
}

void Tokenizer::Impl::check_spec() const {
    const int32_t n = spec.size();
    if (spec.model != "llama" && spec.model != "gpt2")
        fail("tokenizer model \"{}\" is not supported (supported: llama, gpt2)", spec.model);
    if (n == 0) fail("tokenizer vocabulary is empty");
    if (!spec.scores.empty() && spec.scores.size() != spec.tokens.size())
        fail("tokenizer has {} scores for {} tokens", spec.scores.size(), n);
    if (!spec.types.empty() && spec.types.size() != spec.tokens.size())
        fail("tokenizer has {} token types for {} tokens", spec.types.size(), n);
    for (auto [name, id] : {std::pair{"bos", spec.bos_id},
                            {"eos", spec.eos_id},
                            {"unknown", spec.unk_id},
                            {"padding", spec.pad_id},
                            {"eot", spec.eot_id},
                            {"eom", spec.eom_id}})
        if (id < -1 || id >= n)
            fail("{} token id {} is out of range (vocabulary of {})", name, id, n);
    if (!spec.normalizer.empty() && spec.normalizer != "nfc")
        fail("text normalizer \"{}\" is not supported (supported: nfc)", spec.normalizer);
}

// Each token's type, its entry in the vocabulary map, and its piece (the bytes it stands for).
void Tokenizer::Impl::index_tokens() {
    const int32_t n = spec.size();
    types.resize(n);
    for (int32_t i = 0; i < n; ++i) {
        types[i] = spec.type(i);
        const auto t = static_cast<int32_t>(types[i]);
        if (t < 0 || t > 6) fail("token {} has unknown token type {}", i, t);
        vocab.emplace(spec.tokens[i], i);
    }
    pieces.resize(n);
    strippable.assign(n, 0);
    for (int32_t i = 0; i < n; ++i) {
        const std::string& text = spec.tokens[i];
        const TokenType t = types[i];
        if (t == TokenType::Control || t == TokenType::Unknown) {
            pieces[i] = text;
        } else if (t == TokenType::Byte && hex_byte_token(text) >= 0) {
            pieces[i] = std::string(1, static_cast<char>(hex_byte_token(text)));
        } else if (!byte_level) {
            pieces[i] = replace_all(text, kSpaceMark, " ");
            strippable[i] = spec.add_space_prefix && !pieces[i].empty() && pieces[i][0] == ' ';
        } else if (t == TokenType::UserDefined) {
            pieces[i] = text;
        } else {
            pieces[i] = byte_level_bytes(text);
        }
    }
}

// Byte tokens: <0xXX> for SentencePiece byte fallback, the byte's character for byte-level.
void Tokenizer::Impl::find_byte_tokens() {
    for (int b = 0; b < 256; ++b) {
        std::string key;
        if (byte_level) {
            key = byte_to_unicode()[b];
        } else {
            static const char* hex = "0123456789ABCDEF";
            key = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        }
        const auto it = vocab.find(key);
        byte_token[b] = it == vocab.end() ? -1 : it->second;
    }
}

// Merge ranks by token pair (byte-level BPE, or SentencePiece with merges), else the tokens a
// SentencePiece merge may produce (ranked by score).
void Tokenizer::Impl::index_merges() {
    if (use_merges) {
        merge_table.reserve(spec.merges.size());
        for (size_t r = 0; r < spec.merges.size(); ++r) {
            const auto& [a, b] = spec.merges[r];
            const auto ia = vocab.find(a), ib = vocab.find(b), ic = vocab.find(a + b);
            if (ia == vocab.end() || ib == vocab.end() || ic == vocab.end())
                fail("merge {} (\"{} {}\") names a token that is not in the vocabulary", r, a, b);
            merge_table.emplace(pair_key(ia->second, ib->second),
                                std::pair{static_cast<int32_t>(r), ic->second});
        }
    } else {
        for (int32_t i = 0; i < spec.size(); ++i)
            if (types[i] == TokenType::Normal || types[i] == TokenType::UserDefined ||
                types[i] == TokenType::Unused)
                mergeable.emplace(spec.tokens[i], i);
    }
}

// Special-token text, matched before anything else, longest first.
void Tokenizer::Impl::index_specials() {
    for (int32_t i = 0; i < spec.size(); ++i) {
        const TokenType t = types[i];
        if (spec.tokens[i].empty()) continue;
        if (t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined)
            specials.push_back({spec.tokens[i], i, t == TokenType::UserDefined});
    }
    for (uint32_t k = 0; k < specials.size(); ++k) {
        const auto first = static_cast<uint8_t>(specials[k].text[0]);
        if (!byte_level && specials[k].always)
            user_defined_by_first_byte[first].push_back(k);
        else
            specials_by_first_byte[first].push_back(k);
    }
    auto longest_first = [&](uint32_t a, uint32_t b) {
        return specials[a].text.size() > specials[b].text.size();
    };
    for (auto& bucket : specials_by_first_byte)
        std::stable_sort(bucket.begin(), bucket.end(), longest_first);
    for (auto& bucket : user_defined_by_first_byte)
        std::stable_sort(bucket.begin(), bucket.end(), longest_first);
}

// End of generation: EOS, EOT, EOM and the end markers of the known chat formats.
void Tokenizer::Impl::mark_end_of_generation() {
    eog.assign(spec.size(), 0);
    for (int32_t id : {spec.eos_id, spec.eot_id, spec.eom_id})
        if (id >= 0) eog[id] = 1;
    for (const char* marker : kEndMarkers) {
        const auto it = vocab.find(marker);
        if (it != vocab.end() && (types[it->second] == TokenType::Control ||
                                  types[it->second] == TokenType::UserDefined))
            eog[it->second] = 1;
    }
}

void Tokenizer::Impl::push_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
    for (char c : bytes) {
        const int32_t id = byte_token[static_cast<uint8_t>(c)];
        if (id >= 0)
            out.push_back(id);
        else if (spec.unk_id >= 0)
            out.push_back(spec.unk_id);
        // else: a vocabulary with neither byte tokens nor <unk> cannot say this byte; drop it.
    }
}

void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<BpeSymbol> symbols;
    symbols.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        size_t len = utf8_char_len(text, pos);
        if (!len) len = 1;  // an ill-formed byte is a symbol of its own (-> byte fallback)
        bool frozen = false;
        for (uint32_t k : user_defined_by_first_byte[static_cast<uint8_t>(text[pos])]) {
            if (text.substr(pos, specials[k].text.size()) == specials[k].text) {
                len = specials[k].text.size();
                frozen = true;
                break;
            }
        }
        BpeSymbol s;
        s.frozen = frozen;
        s.start = static_cast<uint32_t>(pos);
        s.len = static_cast<uint32_t>(len);
        const int32_t index = static_cast<int32_t>(symbols.size());
        s.prev = index - 1;
        s.next = pos + len < text.size() ? index + 1 : -1;
        if (use_merges) {
            const auto it = vocab.find(text.substr(pos, len));
            s.id = it == vocab.end() ? -1 : it->second;
        }
        symbols.push_back(s);
        pos += len;
    }
    if (symbols.empty()) return;

    // SentencePiece re-splits "unused" pieces into the two parts they were merged from.
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
    BpeMergeObserver observer = nullptr;
    if (!use_merges) {
        observer = [&](const BpeSymbol& merged, uint32_t left_len) {
            const auto piece = text.substr(merged.start, merged.len);
            const auto it = mergeable.find(piece);
            if (it != mergeable.end() && types[it->second] == TokenType::Unused)
                rev_merge[piece] = {piece.substr(0, left_len), piece.substr(left_len)};
        };
    }
    bpe_merge(
        symbols,
        [&](const BpeSymbol& l, const BpeSymbol& r) -> BpeMerge {
            if (use_merges) {
                if (l.id < 0 || r.id < 0) return {};
                const auto it = merge_table.find(pair_key(l.id, r.id));
                if (it == merge_table.end()) return {};
                return {true, -static_cast<double>(it->second.first), it->second.second};
            }
            const auto it = mergeable.find(text.substr(l.start, l.len + r.len));
            if (it == mergeable.end()) return {};
            const double score = spec.scores.empty() ? 0.0 : spec.scores[it->second];
            return {true, score, it->second};
        },
        observer);

    std::function<void(std::string_view)> emit = [&](std::string_view piece) {
        const auto it = vocab.find(piece);
        if (it == vocab.end()) {
            push_bytes(piece, out);  // byte fallback (or <unk> per byte)
            return;
        }
        if (types[it->second] == TokenType::Unused) {
            const auto parts = rev_merge.find(piece);
            if (parts != rev_merge.end()) {
                emit(parts->second.first);
                emit(parts->second.second);
                return;
            }
        }
        out.push_back(it->second);
    };
    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        const BpeSymbol& s = symbols[i];
        if (use_merges && s.id >= 0)
            out.push_back(s.id);
        else
            emit(text.substr(s.start, s.len));
    }
}

void Tokenizer::Impl::encode_byte_level_word(std::string_view word,
                                             std::vector<int32_t>& out) const {
    const auto& to_unicode = byte_to_unicode();
    std::string mapped;
    mapped.reserve(word.size() * 2);
    std::vector<BpeSymbol> symbols;
    symbols.reserve(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
        const uint8_t b = static_cast<uint8_t>(word[i]);
        BpeSymbol s;
        s.start = static_cast<uint32_t>(mapped.size());
        s.len = static_cast<uint32_t>(to_unicode[b].size());
        s.id = byte_token[b];
        s.prev = static_cast<int32_t>(i) - 1;
        s.next = i + 1 < word.size() ? static_cast<int32_t>(i + 1) : -1;
        mapped += to_unicode[b];
        symbols.push_back(s);
    }
    if (spec.ignore_merges) {
        const auto it = vocab.find(mapped);
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    bpe_merge(symbols, [&](const BpeSymbol& l, const BpeSymbol& r) -> BpeMerge {
        if (l.id < 0 || r.id < 0) return {};
        const auto it = merge_table.find(pair_key(l.id, r.id));
        if (it == merge_table.end()) return {};
        return {true, -static_cast<double>(it->second.first), it->second.second};
    });
    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        const BpeSymbol& s = symbols[i];
        if (s.id >= 0) {
            out.push_back(s.id);
            continue;
        }
        // A byte whose character is missing from the vocabulary.
        if (spec.unk_id >= 0) out.push_back(spec.unk_id);
    }
}

void Tokenizer::Impl::encode_fragment(
    std::string_view text, std::vector<int32_t>& out,
    std::unordered_map<std::string, std::vector<int32_t>>& cache) const {
    std::string normalized;
    if (spec.normalizer == "nfc") {
        normalized = nfc_lenient(text);
        text = normalized;
    }
    if (!byte_level) {
        std::string s;
        if (spec.remove_extra_whitespaces) {
            // SentencePiece: no leading or trailing spaces, runs of spaces become one.
            bool prev_space = true;
            for (char c : text) {
                if (c == ' ' && prev_space) continue;
                s += c;
                prev_space = c == ' ';
            }
            while (!s.empty() && s.back() == ' ') s.pop_back();
            if (s.empty()) return;
        } else {
            s.assign(text);
        }
        std::string escaped;
        // The dummy prefix goes in front of every fragment: at the start of the text and again
        // after each control token, as llama.cpp and Hugging Face's Llama 2 tokenizer do.
        if (spec.add_space_prefix) escaped = kSpaceMark;
        escaped += replace_all(s, " ", kSpaceMark);
        if (spec.remove_extra_whitespaces) {
            // SentencePiece trims trailing spaces after escaping them, so a literal U+2581 at
            // the end goes too.
            while (escaped.size() >= kSpaceMark.size() &&
                   std::string_view(escaped).substr(escaped.size() - kSpaceMark.size()) ==
                       kSpaceMark)
                escaped.resize(escaped.size() - kSpaceMark.size());
        }
        encode_spm(escaped, out);
        return;
    }

    std::string prefixed;
    if (spec.add_space_prefix && (text.empty() || text[0] != ' ')) {
        prefixed = " ";
        prefixed += text;
        text = prefixed;
    }
    auto encode_word = [&](std::string_view word) {
        if (word.size() <= 64) {  // short words repeat: remember them for this call
            const auto hit = cache.find(std::string(word));
            if (hit != cache.end()) {
                out.insert(out.end(), hit->second.begin(), hit->second.end());
                return;
            }
            const size_t before = out.size();
            encode_byte_level_word(word, out);
            cache.emplace(std::string(word), std::vector<int32_t>(out.begin() + before, out.end()));
            return;
        }
        encode_byte_level_word(word, out);
    };
    for_each_utf8_run(text, [&](std::string_view run, bool well_formed) {
        if (!well_formed) return encode_word(run);  // ill-formed bytes: one word
        for (auto word : pre->split(run)) encode_word(word);
    });
}

Tokenizer::Tokenizer(TokenizerSpec spec) : impl_(std::make_unique<Impl>()) {
    impl_->spec = std::move(spec);
    impl_->build();
}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, EncodeOptions options) const {
    const Impl& m = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (options.add_special && m.spec.add_bos && m.spec.bos_id >= 0) out.push_back(m.spec.bos_id);
    std::unordered_map<std::string, std::vector<int32_t>> cache;

    auto in_plain_range = [&](size_t at, size_t len) {
        for (const auto& [first, second] : options.plain_ranges)
            if (at < second && at + len > first) return true;
        return false;
    };
    // Split off special-token text (leftmost, then longest), encode the text between.
    size_t raw_start = 0, i = 0;
    while (i < text.size()) {
        const auto& bucket = m.specials_by_first_byte[static_cast<uint8_t>(text[i])];
        const Impl::Special* hit = nullptr;
        for (uint32_t k : bucket) {
            const auto& sp = m.specials[k];
            if ((sp.always || (options.parse_special && !in_plain_range(i, sp.text.size()))) &&
                text.substr(i, sp.text.size()) == sp.text) {
                hit = &sp;
                break;
            }
        }
        if (!hit) {
            ++i;
            continue;
        }
        if (i > raw_start) m.encode_fragment(text.substr(raw_start, i - raw_start), out, cache);
        out.push_back(hit->id);
        i += hit->text.size();
        raw_start = i;
    }
    if (raw_start < text.size()) m.encode_fragment(text.substr(raw_start), out, cache);

    if (options.add_special && m.spec.add_eos && m.spec.eos_id >= 0) out.push_back(m.spec.eos_id);
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, DecodeOptions options) const {
    const Impl& m = *impl_;
    std::string out;
    bool at_start = true;
    for (int32_t id : ids) {
        m.check_id(id);
        if (options.skip_special && is_control(id)) continue;
        const std::string& p = m.pieces[id];
        if (at_start && options.strip_leading_space && m.strips(id))
            out.append(p, 1);
        else
            out += p;
        if (!p.empty() && !is_control(id)) at_start = false;
    }
    return out;
}

int32_t Tokenizer::n_vocab() const {
    return impl_->spec.size();
}
const std::string& Tokenizer::token_text(int32_t id) const {
    impl_->check_id(id);
    return impl_->spec.tokens[id];
}
const std::string& Tokenizer::piece(int32_t id) const {
    impl_->check_id(id);
    return impl_->pieces[id];
}
TokenType Tokenizer::type(int32_t id) const {
    impl_->check_id(id);
    return impl_->types[id];
}
bool Tokenizer::is_control(int32_t id) const {
    const TokenType t = type(id);
    return t == TokenType::Control || t == TokenType::Unknown;
}
bool Tokenizer::is_end_of_generation(int32_t id) const {
    return id >= 0 && id < n_vocab() && impl_->eog[id];
}
int32_t Tokenizer::find(std::string_view text) const {
    const auto it = impl_->vocab.find(text);
    return it == impl_->vocab.end() ? -1 : it->second;
}
int32_t Tokenizer::bos() const {
    return impl_->spec.bos_id;
}
int32_t Tokenizer::eos() const {
    return impl_->spec.eos_id;
}
int32_t Tokenizer::unk() const {
    return impl_->spec.unk_id;
}
const TokenizerSpec& Tokenizer::spec() const {
    return impl_->spec;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(&tokenizer), options_(options) {}

std::string StreamDecoder::push(int32_t id) {
    const auto& m = *tokenizer_->impl_;
    m.check_id(id);
    const bool control = tokenizer_->is_control(id);
    if (options_.skip_special && control) return {};
    const std::string& p = m.pieces[id];
    if (at_start_ && options_.strip_leading_space && m.strips(id))
        held_.append(p, 1);
    else
        held_ += p;
    if (!p.empty() && !control) at_start_ = false;
    const size_t tail = utf8_incomplete_tail(held_);
    std::string out = utf8_sanitize(std::string_view(held_).substr(0, held_.size() - tail));
    held_.erase(0, held_.size() - tail);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out = utf8_sanitize(held_);
    held_.clear();
    return out;
}

void StreamDecoder::reset() {
    held_.clear();
    at_start_ = true;
}

}  // namespace mq::tok
