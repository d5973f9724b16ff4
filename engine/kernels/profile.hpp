#pragma once
// GPU time per kernel label, summed over submissions and split by batch size: where a forward
// step spends its time (MOBIQUANT_PROFILE=1 prints it when the forward is destroyed).
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace mq::kernels {

class DispatchProfile {
  public:
    void add(const std::string& label, uint32_t batch, double microseconds);
    std::string report() const;  // a table, the most expensive kernels first

  private:
    struct Entry {
        double us = 0;
        uint64_t calls = 0;
    };
    std::map<std::pair<uint32_t, std::string>, Entry> entries_;  // (batch, label)
};

}  // namespace mq::kernels
