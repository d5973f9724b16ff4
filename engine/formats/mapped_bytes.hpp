#pragma once
// The bytes of a model file: a read-only memory mapping, or an owned copy (tests, fuzzing).
// Shared by the readers so that spans into a file stay valid while any reader holds it.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mq {

class MappedBytes {
  public:
    // Maps a regular file read-only. Throws mq::Error naming the path (missing, directory, ...).
    static std::shared_ptr<const MappedBytes> map(const std::filesystem::path& path);
    static std::shared_ptr<const MappedBytes> copy_of(std::span<const std::byte> bytes);

    ~MappedBytes();
    MappedBytes(const MappedBytes&) = delete;
    MappedBytes& operator=(const MappedBytes&) = delete;

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::byte* data() const { return data_; }
    uint64_t size() const { return size_; }
    // Gives the pages of `range` (inside bytes()) back to the kernel so they stop counting in
    // the process's memory; later reads fault them in from the file again. Streaming jobs call
    // it on a tensor they are done with, or a whole-model pass grows to the file's size.
    // Nothing happens for an owned copy.
    void drop_pages(std::span<const std::byte> range) const;

  private:
    MappedBytes() = default;
    const std::byte* data_ = nullptr;
    uint64_t size_ = 0;
    void* mapping_ = nullptr;  // munmap on destruction when set
    std::vector<std::byte> owned_;
};

}  // namespace mq
