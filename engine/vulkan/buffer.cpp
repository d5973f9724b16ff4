#include "vulkan/buffer.hpp"

#include <cstring>
#include <utility>

#include "vulkan/check.hpp"
#include "vulkan/context.hpp"

namespace mq::vk {

namespace {

// First memory type allowed by `bits` that has all of `want`; -1 if none.
int find_memory_type(const VkPhysicalDeviceMemoryProperties& mem, uint32_t bits,
                     VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want)
            return static_cast<int>(i);
    return -1;
}

}  // namespace

Buffer::Buffer(Context& ctx, uint64_t size, MemoryKind kind, VkBufferUsageFlags usage)
    : ctx_(&ctx), size_(size) {
    if (size == 0) fail("cannot create an empty GPU buffer");
    const DeviceInfo& info = ctx.info();
    if (info.max_memory_allocation_size && size > info.max_memory_allocation_size)
        fail("a {:.1f} MiB buffer exceeds the device's largest allocation ({:.1f} MiB) on {}",
             size / 1048576.0, info.max_memory_allocation_size / 1048576.0, info.name);
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = usage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VK_CHECK(vkCreateBuffer(ctx.device(), &bci, nullptr, &buffer_));

    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx.device(), buffer_, &req);
    const auto& mem = ctx.memory_properties();
    int type = -1;
    if (kind == MemoryKind::Device) {
        type = find_memory_type(mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    } else {
        type = find_memory_type(mem, req.memoryTypeBits,
                                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                    VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (type < 0)
            type = find_memory_type(
                mem, req.memoryTypeBits,
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    }
    if (type < 0) type = find_memory_type(mem, req.memoryTypeBits, 0);
    if (type < 0) {
        release();
        fail("no memory type fits a {} buffer on {}",
             kind == MemoryKind::Device ? "device" : "host", info.name);
    }
    try {
        ctx.reserve_memory(req.size);
    } catch (...) {
        release();
        throw;
    }
    reserved_ = req.size;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = static_cast<uint32_t>(type);
    ctx.count_memory_allocation();
    VkResult r = vkAllocateMemory(ctx.device(), &mai, nullptr, &memory_);
    if (r != VK_SUCCESS) {
        release();
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            fail("out of {} memory allocating {:.1f} MiB on {} ({:.1f} MiB already in use)",
                 r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host", size / 1048576.0,
                 info.name, ctx.allocated_bytes() / 1048576.0);
        throw_vk_error(r, "vkAllocateMemory", __FILE__, __LINE__);
    }
    VK_CHECK(vkBindBufferMemory(ctx.device(), buffer_, memory_, 0));
    const bool host_visible =
        mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    if (host_visible && (kind == MemoryKind::Host || ctx.maps_device_memory()))
        VK_CHECK(vkMapMemory(ctx.device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_));
    // Every mapped type we pick is coherent except, at worst, a device-local one on exotic
    // hardware; writes there are made visible by the queue submission that follows.
}

Buffer::~Buffer() {
    release();
}

void Buffer::release() {
    if (!ctx_) return;
    if (mapped_) vkUnmapMemory(ctx_->device(), memory_);
    if (buffer_) vkDestroyBuffer(ctx_->device(), buffer_, nullptr);
    if (memory_) vkFreeMemory(ctx_->device(), memory_, nullptr);
    ctx_->unreserve_memory(reserved_);
    reserved_ = 0;
    mapped_ = nullptr;
    buffer_ = VK_NULL_HANDLE;
    memory_ = VK_NULL_HANDLE;
}

Buffer::Buffer(Buffer&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)),
      buffer_(std::exchange(o.buffer_, VK_NULL_HANDLE)),
      memory_(std::exchange(o.memory_, VK_NULL_HANDLE)),
      size_(std::exchange(o.size_, 0)),
      reserved_(std::exchange(o.reserved_, 0)),
      mapped_(std::exchange(o.mapped_, nullptr)) {}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
    if (this != &o) {
        release();
        ctx_ = std::exchange(o.ctx_, nullptr);
        buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
        memory_ = std::exchange(o.memory_, VK_NULL_HANDLE);
        size_ = std::exchange(o.size_, 0);
        reserved_ = std::exchange(o.reserved_, 0);
        mapped_ = std::exchange(o.mapped_, nullptr);
    }
    return *this;
}

void Buffer::upload(const void* src, uint64_t bytes, uint64_t offset) {
    if (bytes == 0) return;
    if (offset + bytes > size_)
        fail("upload of {} bytes at offset {} overruns a {}-byte buffer", bytes, offset, size_);
    if (mapped_) {
        std::memcpy(static_cast<char*>(mapped_) + offset, src, bytes);
        return;
    }
    Buffer staging(*ctx_, bytes, MemoryKind::Host);
    std::memcpy(staging.data(), src, bytes);
    ctx_->run_once([&](VkCommandBuffer cb) {
        VkBufferCopy copy{0, offset, bytes};
        vkCmdCopyBuffer(cb, staging.handle(), buffer_, 1, &copy);
    });
}

void Buffer::download(void* dst, uint64_t bytes, uint64_t offset) const {
    if (bytes == 0) return;
    if (offset + bytes > size_)
        fail("download of {} bytes at offset {} overruns a {}-byte buffer", bytes, offset, size_);
    if (mapped_) {
        std::memcpy(dst, static_cast<const char*>(mapped_) + offset, bytes);
        return;
    }
    Buffer staging(*ctx_, bytes, MemoryKind::Host);
    ctx_->run_once([&](VkCommandBuffer cb) {
        VkBufferCopy copy{offset, 0, bytes};
        vkCmdCopyBuffer(cb, buffer_, staging.handle(), 1, &copy);
    });
    std::memcpy(dst, staging.data(), bytes);
}

void Buffer::fill_zero() {
    if (mapped_) {
        std::memset(mapped_, 0, size_);
        return;
    }
    ctx_->run_once([&](VkCommandBuffer cb) { vkCmdFillBuffer(cb, buffer_, 0, VK_WHOLE_SIZE, 0); });
}

}  // namespace mq::vk
