#pragma once
// UTF-8 and Unicode helpers the tokenizers share: strict UTF-8 decoding (the same rules PCRE2
// and the Unicode standard use), GPT-2's byte <-> printable-character map, and NFC.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

namespace mq::tok {

using mq::utf8_char_len;  // core/utf8.hpp

// Number of bytes at the end of `text` that form the start of a well-formed character still
// waiting for its continuation bytes (0 when the text ends on a character boundary).
size_t utf8_incomplete_tail(std::string_view text);

// Replaces every ill-formed sequence with U+FFFD (one per maximal ill-formed subpart, as the
// Unicode standard recommends and as browsers and Python's errors="replace" do).
std::string utf8_sanitize(std::string_view text);

void append_utf8(std::string& out, uint32_t codepoint);

// GPT-2's byte-level alphabet: every byte maps to one printable code point (printable ASCII and
// Latin-1 map to themselves, the rest to U+0100 onwards), so any byte string becomes text.
const std::array<std::string, 256>& byte_to_unicode();
// The inverse: the byte a code point stands for, or -1.
int unicode_to_byte(uint32_t codepoint);

// Unicode Normalization Form C of well-formed UTF-8 (through ICU).
std::string nfc(std::string_view text);

}  // namespace mq::tok
