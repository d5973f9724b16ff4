#include "server/stop_text.hpp"

#include <algorithm>

namespace mq::server {

std::string StopText::push(std::string_view text) {
    if (matched_) return {};
    held_ += text;
    size_t first = std::string::npos;
    for (const auto& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
        matched_ = true;
        std::string out = held_.substr(0, first);
        held_.clear();
        return out;
    }
    // Keep the longest ending that is the start of a stop string.
    size_t keep = 0;
    for (const auto& s : stops_)
        for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
            if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
                keep = n;
                break;
            }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopText::flush() {
    std::string out = matched_ ? std::string() : held_;
    held_.clear();
    return out;
}

}  // namespace mq::server
