#include "formats/utf8.hpp"

#include "core/utf8.hpp"

namespace mq {

size_t find_invalid_utf8(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
        size_t len = utf8_char_len(text, i);
        if (len == 0) return i;
        i += len;
    }
    return std::string_view::npos;
}

}  // namespace mq
