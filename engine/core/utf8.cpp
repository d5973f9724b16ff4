#include "core/utf8.hpp"

#include <cstdint>

namespace mq {

size_t utf8_char_len(std::string_view text, size_t pos) {
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    if (pos >= n) return 0;
    const uint8_t c = s[pos];
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (pos + len > n) return 0;
    if (s[pos + 1] < lo || s[pos + 1] > hi) return 0;
    for (size_t k = 2; k < len; ++k)
        if (s[pos + k] < 0x80 || s[pos + k] > 0xBF) return 0;
    return len;
}

}  // namespace mq
