#pragma once
// A plan is a list of ready dispatches (pipeline, descriptor set, push constants, grid) made
// once when buffers are known ("prepare"), and recorded into command sequences as often as needed.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vulkan/command_sequence.hpp"

namespace mq::kernels {

struct Dispatch {
    const vk::Kernel* kernel = nullptr;  // null: a barrier (all earlier writes visible to later)
    VkDescriptorSet set = VK_NULL_HANDLE;
    std::array<uint32_t, 8> push{};
    uint32_t push_words = 0;
    std::array<uint32_t, 3> groups{1, 1, 1};
    std::string label;
};

struct Plan {
    std::vector<Dispatch> dispatches;
    void record(vk::CommandSequence& seq) const;
    void append(const Plan& other);
    void barrier() { dispatches.push_back({}); }
};

}  // namespace mq::kernels
