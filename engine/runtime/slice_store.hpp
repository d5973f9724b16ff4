#pragma once
// The slices of a model's linears kept in an unnamed temporary file while a job makes them, so
// that they never all sit in memory (an 8B model's slices take over 7 GB). The file has no name
// from the start: nothing is left behind, whatever way the process ends.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "quant/mobislice.hpp"
#include "runtime/model_weights.hpp"

namespace mq::rt {

class SliceStore {
  public:
    // The file goes in `dir` (next to the output: same disk, no size limit of a tmpfs).
    SliceStore(const std::filesystem::path& dir, uint32_t n_layers);
    ~SliceStore();
    SliceStore(const SliceStore&) = delete;
    SliceStore& operator=(const SliceStore&) = delete;

    void put(uint32_t layer, Linear linear, const quant::SlicedMatrix& m);
    bool has(uint32_t layer, Linear linear) const;
    quant::SlicedMatrix get(uint32_t layer, Linear linear) const;

    // Part e < kSlices is plane e, part kSlices the scale/zero words; streamed in chunks.
    static constexpr uint32_t kParts = quant::kSlices + 1;
    void read_part(uint32_t layer, Linear linear, uint32_t part,
                   const std::function<void(const void*, size_t)>& sink) const;
    uint64_t bytes() const { return end_; }  // in the file so far

  private:
    struct Entry {
        bool set = false;
        uint32_t rows = 0, cols = 0;
        uint64_t offset[kParts] = {}, size[kParts] = {};
    };
    const Entry& entry(uint32_t layer, Linear linear) const;
    void read_at(uint64_t offset, void* out, uint64_t size) const;

    int fd_ = -1;
    uint64_t end_ = 0;
    std::vector<Entry> entries_;  // [layer * kLinearsPerLayer + linear]
};

}  // namespace mq::rt
