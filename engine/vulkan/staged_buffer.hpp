#pragma once
// A device buffer with a persistent host-visible mirror, for the small per-step inputs and the
// read-backs of a recorded step. Where device memory is mapped (lavapipe, unified memory) the
// host writes and reads the device buffer directly and no copy is recorded; on a discrete GPU
// the step's command buffer itself carries the copies (host -> device before the first dispatch,
// device -> host after the last), so a step stays one submission with no allocation.
#include <cstdint>

#include "vulkan/buffer.hpp"
#include "vulkan/command_sequence.hpp"

namespace mq::vk {

class StagedBuffer {
  public:
    StagedBuffer() = default;
    StagedBuffer(Context& ctx, uint64_t size);

    const Buffer& device() const { return device_; }
    // Host-side bytes: the mirror, or the device buffer itself when it is mapped.
    void* host() const { return staged() ? mirror_.data() : device_.data(); }
    bool staged() const { return mirror_.handle() != VK_NULL_HANDLE; }

    // Record the copies a step needs (nothing where the device buffer is mapped). The caller
    // places the barriers: before the dispatches that read `to_device`'s data and before a
    // `to_host` copy of what they wrote.
    void record_to_device(CommandSequence& seq, uint64_t bytes) const;
    void record_to_host(CommandSequence& seq, uint64_t bytes) const;

  private:
    Buffer device_, mirror_;
};

}  // namespace mq::vk
