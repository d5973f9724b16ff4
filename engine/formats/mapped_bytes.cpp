#include "formats/mapped_bytes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

MappedBytes::~MappedBytes() {
    if (mapping_) ::munmap(mapping_, size_);
}

}  // namespace mq
