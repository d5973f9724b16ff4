// Running out of device memory is an error naming the problem, not a crash: a forced memory
// budget makes the allocations of a model upload fail part way, as a full GPU would.
#include <doctest/doctest.h>

#include "forward_test_models.hpp"
#include "runtime/vulkan_forward.hpp"
#include "support/vulkan_fixture.hpp"

using namespace mq;
using namespace mq::test;

TEST_CASE("a model too big for the device memory is refused with a clear error") {
    rt::ModelWeights w = tiny_weights({});  // ~0.5 MiB of fp32 weights and caches
    vk::ContextOptions options = validated_options();
    options.memory_budget = 256 << 10;
    vk::Context ctx(options);
    CHECK_THROWS_WITH_AS(rt::VulkanForward(ctx, w, {.max_context = 64}),
                         doctest::Contains("out of device memory"), mq::Error);
    CHECK(ctx.allocated_bytes() == 0);  // the half-built forward gave back what it held
    // The context stays usable: what fits still runs.
    vk::Buffer small(ctx, 4096);
    small.fill_zero();
    CHECK(small.read<uint32_t>(1)[0] == 0u);
    CHECK(ctx.validation_message_count() == 0);
}
