#include "tokenizer/unicode.hpp"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "core/error.hpp"

namespace mq::tok {

// Length of the maximal well-formed prefix of a character at pos (>= 1 when the lead byte is a
// valid lead), used both for "incomplete tail" and for U+FFFD substitution.
static size_t valid_prefix_len(std::string_view text, size_t pos, size_t* full_len) {
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const uint8_t c = s[pos];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *full_len = 0;
        return 0;
    }
    *full_len = len;
    size_t k = 1;
    for (; k < len && pos + k < text.size(); ++k) {
        const uint8_t b = s[pos + k];
        const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
    }
    return k;
}

size_t utf8_incomplete_tail(std::string_view text) {
    // A character is at most 4 bytes: look at the last 3 possible lead positions.
    const size_t n = text.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const size_t pos = n - back;
        const auto c = static_cast<uint8_t>(text[pos]);
        if (c >= 0x80 && c < 0xC0) continue;  // continuation byte: keep looking for its lead
        size_t full = 0;
        const size_t ok = valid_prefix_len(text, pos, &full);
        if (full > back && ok == back) return back;
        return 0;
    }
    return 0;
}

std::string utf8_sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        const size_t len = utf8_char_len(text, i);
        if (len) {
            out.append(text.substr(i, len));
            i += len;
            continue;
        }
        size_t full = 0;
        const size_t prefix = valid_prefix_len(text, i, &full);
        out += "\xEF\xBF\xBD";
        i += prefix ? prefix : 1;
    }
    return out;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {
struct ByteMap {
    std::array<std::string, 256> to_unicode;
    std::array<int16_t, 512> from_unicode;  // every mapped code point is below U+0200
    ByteMap() {
        from_unicode.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
            append_utf8(to_unicode[b], cp);
            from_unicode[cp] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap map;
    return map;
}
}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
    return byte_map().to_unicode;
}

int unicode_to_byte(uint32_t cp) {
    return cp < 512 ? byte_map().from_unicode[cp] : -1;
}

std::string nfc(std::string_view text) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* norm = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status)) fail("ICU NFC normalizer unavailable: {}", u_errorName(status));
    const icu::UnicodeString src = icu::UnicodeString::fromUTF8(
        icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    if (norm->isNormalized(src, status) && U_SUCCESS(status)) return std::string(text);
    status = U_ZERO_ERROR;
    const icu::UnicodeString dst = norm->normalize(src, status);
    if (U_FAILURE(status)) fail("NFC normalization failed: {}", u_errorName(status));
    std::string out;
    dst.toUTF8String(out);
    return out;
}

}  // namespace mq::tok
