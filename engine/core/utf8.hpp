#pragma once
// UTF-8 well-formedness, shared by the file readers (metadata strings) and the tokenizer.
#include <cstddef>
#include <string_view>

namespace mq {

// Length (1-4) of the well-formed UTF-8 character starting at pos, or 0 when the bytes there
// are not one (bad lead, overlong, surrogate, above U+10FFFF, truncated) or pos is past the end.
size_t utf8_char_len(std::string_view text, size_t pos);

// Calls on_run(run, well_formed) for each maximal run of well-formed UTF-8 and of ill-formed
// bytes, in text order (the two kinds alternate; empty runs are skipped).
template <class OnRun>
void for_each_utf8_run(std::string_view text, OnRun&& on_run) {
    size_t i = 0;
    while (i < text.size()) {
        size_t j = i;
        for (size_t len; j < text.size() && (len = utf8_char_len(text, j)) != 0;) j += len;
        if (j > i) on_run(text.substr(i, j - i), true);
        i = j;
        while (j < text.size() && !utf8_char_len(text, j)) ++j;
        if (j > i) on_run(text.substr(i, j - i), false);
        i = j;
    }
}

}  // namespace mq
