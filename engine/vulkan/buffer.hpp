#pragma once
// A VkBuffer with its own memory. Device buffers live in device-local memory (mapped directly
// when that memory is also host-visible, as on lavapipe and unified-memory GPUs; otherwise filled
// through a staging copy). Host buffers are always mapped: small parameters and read-backs.
#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mq::vk {

class Context;

enum class MemoryKind { Device, Host };

class Buffer {
  public:
    Buffer() = default;
    Buffer(Context& ctx, uint64_t size, MemoryKind kind = MemoryKind::Device,
           VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT);
    ~Buffer();
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    VkBuffer handle() const { return buffer_; }
    uint64_t size() const { return size_; }
    bool mapped() const { return mapped_ != nullptr; }
    void* data() const { return mapped_; }  // null unless mapped()

    void upload(const void* src, uint64_t bytes, uint64_t offset = 0);
    void download(void* dst, uint64_t bytes, uint64_t offset = 0) const;
    void fill_zero();

    template <typename T>
    void upload(std::span<const T> values, uint64_t offset = 0) {
        upload(values.data(), values.size_bytes(), offset);
    }
    template <typename T>
    std::vector<T> read(uint64_t count, uint64_t offset = 0) const {
        std::vector<T> out(count);
        download(out.data(), count * sizeof(T), offset);
        return out;
    }

  private:
    void release();
    Context* ctx_ = nullptr;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    uint64_t size_ = 0;
    uint64_t reserved_ = 0;  // bytes counted against the context's memory budget
    void* mapped_ = nullptr;
};

// A slice of a buffer, as bound to one descriptor.
struct BufferRange {
    const Buffer* buffer = nullptr;
    uint64_t offset = 0;
    uint64_t range = VK_WHOLE_SIZE;
};

inline BufferRange whole(const Buffer& b) {
    return {&b, 0, b.size()};
}

}  // namespace mq::vk
