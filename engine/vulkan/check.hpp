#pragma once
// VK_CHECK(call): throws mq::Error naming the call and the VkResult, and says "out of device
// memory" plainly, since that is the one a user can act on.
#include <vulkan/vulkan.h>

#include "core/error.hpp"

namespace mq::vk {

const char* result_name(VkResult r);
[[noreturn]] void throw_vk_error(VkResult r, const char* call, const char* file, int line);

}  // namespace mq::vk

#define VK_CHECK(call)                                                             \
    do {                                                                           \
        VkResult vk_check_result_ = (call);                                        \
        if (vk_check_result_ != VK_SUCCESS)                                        \
            ::mq::vk::throw_vk_error(vk_check_result_, #call, __FILE__, __LINE__); \
    } while (0)
