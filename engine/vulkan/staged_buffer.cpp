#include "vulkan/staged_buffer.hpp"

namespace mq::vk {

StagedBuffer::StagedBuffer(Context& ctx, uint64_t size) : device_(ctx, size) {
    if (!device_.mapped()) mirror_ = Buffer(ctx, size, MemoryKind::Host);
}

void StagedBuffer::record_to_device(CommandSequence& seq, uint64_t bytes) const {
    if (staged()) seq.copy(mirror_, 0, device_, 0, bytes);
}

void StagedBuffer::record_to_host(CommandSequence& seq, uint64_t bytes) const {
    if (staged()) seq.copy(device_, 0, mirror_, 0, bytes);
}

}  // namespace mq::vk
