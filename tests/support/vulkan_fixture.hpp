#pragma once
// Every GPU test runs on a context with the Khronos validation layer on and fails if the layer
// reported anything during the test.
#include <doctest/doctest.h>

#include "core/error.hpp"
#include "support/test_data.hpp"
#include "vulkan/context.hpp"

namespace mq::test {

inline vk::ContextOptions validated_options() {
    vk::ContextOptions o;
    o.validation = true;
    o.pipeline_cache = false;
    return o;
}

struct VulkanFixture {
    vk::Context ctx{validated_options()};
    ~VulkanFixture() {
        CHECK_MESSAGE(ctx.validation_message_count() == 0,
                      "the validation layer reported problems");
    }
};

}  // namespace mq::test
