#include "formats/mapped_bytes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace mq {

std::shared_ptr<const MappedBytes> MappedBytes::map(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open {}: {}", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        fail("cannot stat {}: {}", path.string(), std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail("{} is not a regular file", path.string());
    }
    std::shared_ptr<MappedBytes> result(new MappedBytes());
    result->size_ = static_cast<uint64_t>(st.st_size);
    if (result->size_ > 0) {
        void* p = ::mmap(nullptr, result->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        int err = errno;
        ::close(fd);
        if (p == MAP_FAILED) fail("cannot map {}: {}", path.string(), std::strerror(err));
        result->mapping_ = p;
        result->data_ = static_cast<const std::byte*>(p);
    } else {
        ::close(fd);
    }
    return result;
}

std::shared_ptr<const MappedBytes> MappedBytes::copy_of(std::span<const std::byte> bytes) {
    std::shared_ptr<MappedBytes> result(new MappedBytes());
    result->owned_.assign(bytes.begin(), bytes.end());
    result->data_ = result->owned_.data();
    result->size_ = result->owned_.size();
    return result;
}

void MappedBytes::drop_pages(std::span<const std::byte> range) const {
    if (!mapping_ || range.empty()) return;
    const auto* base = static_cast<const std::byte*>(mapping_);
    if (range.data() < base || range.data() + range.size() > base + size_) return;
    // Whole pages around the range: a read-only file mapping refaults neighbours on demand.
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t begin = uint64_t(range.data() - base) / page * page;
    const uint64_t end = std::min<uint64_t>(size_, uint64_t(range.data() - base) + range.size());
    ::madvise(const_cast<std::byte*>(base) + begin, end - begin, MADV_DONTNEED);
}

MappedBytes::~MappedBytes() {
    if (mapping_) ::munmap(mapping_, size_);
}

}  // namespace mq
