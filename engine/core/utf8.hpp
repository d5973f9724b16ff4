#pragma once
// UTF-8 well-formedness, shared by the file readers (metadata strings) and the tokenizer.
#include <cstddef>
#include <string_view>

namespace mq {

// Length (1-4) of the well-formed UTF-8 character starting at pos, or 0 when the bytes there
// are not one (bad lead, overlong, surrogate, above U+10FFFF, truncated) or pos is past the end.
size_t utf8_char_len(std::string_view text, size_t pos);

}  // namespace mq
