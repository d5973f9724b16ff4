#pragma once
// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF).
#include <cstddef>
#include <string_view>

namespace mq {

// Offset of the first invalid byte, or npos when `text` is valid UTF-8.
size_t find_invalid_utf8(std::string_view text);
inline bool is_valid_utf8(std::string_view text) {
    return find_invalid_utf8(text) == std::string_view::npos;
}

}  // namespace mq
