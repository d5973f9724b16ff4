#include "kernels/profile.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace mq::kernels {

void DispatchProfile::add(const std::string& label, uint32_t batch, double microseconds) {
    Entry& e = entries_[{batch, label.empty() ? "(unlabelled)" : label}];
    e.us += microseconds;
    e.calls++;
}

std::string DispatchProfile::report() const {
    std::map<uint32_t, double> batch_total;
    for (const auto& [key, e] : entries_) batch_total[key.first] += e.us;
    std::vector<std::pair<std::pair<uint32_t, std::string>, Entry>> rows(entries_.begin(),
                                                                         entries_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.first.first != b.first.first ? a.first.first < b.first.first
                                              : a.second.us > b.second.us;
    });
    std::string out = "GPU time by kernel (batch = tokens per step)\n";
    out += fmt::format("{:>6} {:<20} {:>10} {:>12} {:>7}\n", "batch", "kernel", "calls", "total ms",
                       "share");
    for (const auto& [key, e] : rows)
        out += fmt::format("{:>6} {:<20} {:>10} {:>12.2f} {:>6.1f}%\n", key.first, key.second,
                           e.calls, e.us / 1e3, 100.0 * e.us / batch_total[key.first]);
    return out;
}

}  // namespace mq::kernels
