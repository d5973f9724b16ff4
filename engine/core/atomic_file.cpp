#include "core/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace mq {

AtomicFile::AtomicFile(std::filesystem::path destination) : destination_(std::move(destination)) {
    temp_ = destination_;
    temp_ += fmt::format(".tmp-{}", static_cast<long>(getpid()));
    file_ = std::fopen(temp_.c_str(), "wb");
    if (!file_) fail("cannot write {}: {}", destination_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) {
        std::error_code ec;
        std::filesystem::remove(temp_, ec);
    }
}

void AtomicFile::write(const void* data, size_t size) {
    if (size == 0) return;
    if (std::fwrite(data, 1, size, file_) != size)
        fail("write to {} failed: {}", temp_.string(), std::strerror(errno));
    written_ += size;
}

void AtomicFile::commit() {
    if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0)
        fail("flushing {} failed: {}", temp_.string(), std::strerror(errno));
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(temp_, destination_, ec);
    if (ec) fail("cannot rename {} to {}: {}", temp_.string(), destination_.string(), ec.message());
    committed_ = true;
}

void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    AtomicFile file(path);
    file.write(bytes);
    file.commit();
}

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {}", path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace mq
