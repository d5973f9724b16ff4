#include "runtime/slice_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace mq::rt {

namespace {
constexpr uint64_t kChunk = 4u << 20;  // bytes per read when streaming a part out
}

SliceStore::SliceStore(const std::filesystem::path& dir, uint32_t n_layers)
    : entries_(size_t(n_layers) * kLinearsPerLayer) {
    const std::filesystem::path where = dir.empty() ? std::filesystem::path(".") : dir;
    fd_ = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        // Filesystems without O_TMPFILE: a named file, unlinked at once.
        std::string name =
            (where / fmt::format(".mobiquant-slices-{}-XXXXXX", ::getpid())).string();
        fd_ = ::mkstemp(name.data());
        if (fd_ >= 0) ::unlink(name.c_str());
    }
    if (fd_ < 0)
        fail("cannot create a temporary file for the slices in {}: {}", where.string(),
             std::strerror(errno));
}

SliceStore::~SliceStore() {
    if (fd_ >= 0) ::close(fd_);
}

const SliceStore::Entry& SliceStore::entry(uint32_t layer, Linear linear) const {
    const size_t i = size_t(layer) * kLinearsPerLayer + static_cast<uint32_t>(linear);
    if (i >= entries_.size() || !entries_[i].set)
        fail("no slices stored for layer {} {}", layer, linear_name(linear));
    return entries_[i];
}

bool SliceStore::has(uint32_t layer, Linear linear) const {
    const size_t i = size_t(layer) * kLinearsPerLayer + static_cast<uint32_t>(linear);
    return i < entries_.size() && entries_[i].set;
}

void SliceStore::put(uint32_t layer, Linear linear, const quant::SlicedMatrix& m) {
    const size_t i = size_t(layer) * kLinearsPerLayer + static_cast<uint32_t>(linear);
    if (i >= entries_.size()) fail("layer {} is outside the slice store", layer);
    Entry e;
    e.set = true;
    e.rows = m.rows;
    e.cols = m.cols;
    for (uint32_t p = 0; p < kParts; ++p) {
        const std::vector<uint32_t>& words = p < quant::kSlices ? m.planes[p] : m.scale_zero;
        e.offset[p] = end_;
        e.size[p] = words.size() * sizeof(uint32_t);
        const char* data = reinterpret_cast<const char*>(words.data());
        for (uint64_t done = 0; done < e.size[p];) {
            ssize_t n = ::pwrite(fd_, data + done, e.size[p] - done, off_t(end_ + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
                fail("cannot write the slices of layer {} {} to the temporary file: {}", layer,
                     linear_name(linear), std::strerror(errno));
            done += uint64_t(n);
        }
        end_ += e.size[p];
    }
    entries_[i] = e;
}

void SliceStore::read_at(uint64_t offset, void* out, uint64_t size) const {
    char* dst = static_cast<char*>(out);
    for (uint64_t done = 0; done < size;) {
        ssize_t n = ::pread(fd_, dst + done, size - done, off_t(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot read the slices' temporary file: {}", std::strerror(errno));
        done += uint64_t(n);
    }
}

quant::SlicedMatrix SliceStore::get(uint32_t layer, Linear linear) const {
    const Entry& e = entry(layer, linear);
    quant::SlicedMatrix m;
    m.rows = e.rows;
    m.cols = e.cols;
    for (uint32_t p = 0; p < kParts; ++p) {
        std::vector<uint32_t>& words = p < quant::kSlices ? m.planes[p] : m.scale_zero;
        words.resize(e.size[p] / sizeof(uint32_t));
        read_at(e.offset[p], words.data(), e.size[p]);
    }
    return m;
}

void SliceStore::read_part(uint32_t layer, Linear linear, uint32_t part,
                           const std::function<void(const void*, size_t)>& sink) const {
    if (part >= kParts) fail("slice part {} is outside 0..{}", part, kParts - 1);
    const Entry& e = entry(layer, linear);
    std::vector<char> buffer(std::min(kChunk, e.size[part]));
    for (uint64_t done = 0; done < e.size[part];) {
        const uint64_t n = std::min<uint64_t>(buffer.size(), e.size[part] - done);
        read_at(e.offset[part] + done, buffer.data(), n);
        sink(buffer.data(), n);
        done += n;
    }
}

}  // namespace mq::rt
