#pragma once
// Writes that never leave a half-written file: data goes to "<path>.tmp-<pid>" and is renamed
// over the destination only after it is complete and flushed.
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>

namespace mq {

class AtomicFile {
  public:
    explicit AtomicFile(std::filesystem::path destination);
    ~AtomicFile();  // removes the temporary file unless commit() succeeded
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t size);
    void write(std::span<const std::byte> bytes) { write(bytes.data(), bytes.size()); }
    uint64_t position() const { return written_; }
    void commit();  // flush, fsync, rename onto the destination

  private:
    std::filesystem::path destination_, temp_;
    std::FILE* file_ = nullptr;
    uint64_t written_ = 0;
    bool committed_ = false;
};

// Whole-file helpers.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);
std::string read_text_file(const std::filesystem::path& path);

}  // namespace mq
