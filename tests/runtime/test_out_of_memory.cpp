// Running out of device memory is an error naming the problem, not a crash: a model whose
// estimated memory does not fit is refused before its upload starts, and the estimate covers what
// the upload allocates. A truncated model file names the tensor that is cut.
#include <doctest/doctest.h>

#include <filesystem>

#include "formats/gguf.hpp"
#include "forward_test_models.hpp"
#include "runtime/forward_memory.hpp"
#include "runtime/model_session.hpp"
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

TEST_CASE("the memory estimate covers what the forward allocates") {
    vk::Context ctx(validated_options());
    for (const TinyModelSpec& spec : architectures()) {
        CAPTURE(spec.file_name());
        rt::ModelWeights w = tiny_weights(spec);
        for (bool head8 : {false, true}) {
            rt::ForwardOptions fo{.max_context = 64, .max_batch = 8, .head_8bit = head8};
            const rt::ForwardShape shape{false, 64, 8, fo.dense_format, head8, 0};
            const uint64_t estimate = rt::estimate_forward_memory(w.desc, shape).total();
            rt::VulkanForward fwd(ctx, w, fo);
            const uint64_t used = ctx.allocated_bytes();
            CHECK(estimate >= used * 95 / 100);
            CHECK(estimate <= used * 110 / 100 + (64 << 10));
        }
    }
    CHECK(ctx.validation_message_count() == 0);
}

TEST_CASE("a model too big is refused before anything is allocated, naming the sizes") {
    rt::ModelWeights w = tiny_weights({});
    vk::ContextOptions options = validated_options();
    options.memory_budget = 256 << 10;
    vk::Context ctx(options);
    try {
        rt::VulkanForward fwd(ctx, w, {.max_context = 64});
        FAIL("the forward was built past the budget");
    } catch (const mq::Error& e) {
        const std::string m = e.what();
        CHECK(m.find("out of device memory") != std::string::npos);
        CHECK(m.find("needs") != std::string::npos);
        CHECK(m.find("KV cache") != std::string::npos);
        CHECK(m.find("memory budget is 0.25 MiB") != std::string::npos);
    }
    CHECK(ctx.allocated_bytes() == 0);
}

TEST_CASE("the fit check names each limit it applies") {
    rt::ForwardMemory need{.weights = 3ull << 30, .kv_cache = 1ull << 30, .activations = 1 << 20};
    rt::MemoryLimits device_only{.device = "GPU", .device_heap = 2ull << 30};
    CHECK_THROWS_WITH_AS(rt::check_fits(need, device_only, "m"),
                         doctest::Contains("largest memory heap holds 2.00 GiB"), mq::Error);
    rt::MemoryLimits host{.device = "llvmpipe",
                          .device_heap = 64ull << 30,
                          .host_memory = true,
                          .host_available = 3ull << 30};
    CHECK_THROWS_WITH_AS(rt::check_fits(need, host, "m"),
                         doctest::Contains("only 3.00 GiB is available (MemAvailable)"), mq::Error);
    CHECK_THROWS_WITH_AS(rt::check_fits(need, host, "m"),
                         doctest::Contains("weights 3.00 GiB, KV cache 1.00 GiB"), mq::Error);
    host.host_available = 8ull << 30;
    host.device_heap = 2ull << 30;  // nominal on a host-memory device (lavapipe): RAM decides
    CHECK_NOTHROW(rt::check_fits(need, host, "m"));
    rt::MemoryLimits budget{.device = "GPU", .budget = 4ull << 30};
    CHECK_THROWS_WITH_AS(rt::check_fits(need, budget, "m"),
                         doctest::Contains("memory budget is 4.00 GiB"), mq::Error);
    CHECK(rt::host_available_bytes() > 0);
}

TEST_CASE("a truncated tensor in a model file is an error naming the tensor") {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / "mq_test_truncated";
    fs::create_directories(dir);
    const fs::path good = write_tiny_model({}, dir);
    const gguf::File f = gguf::File::open(good);
    const gguf::TensorInfo* last = &f.tensors().front();
    for (const auto& t : f.tensors())
        if (t.offset > last->offset) last = &t;
    const fs::path cut = dir / "truncated.gguf";
    fs::copy_file(good, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, f.data_offset() + last->offset + last->bytes / 2);
    const std::string named = fmt::format("tensor '{}' data", last->name);
    CHECK_THROWS_WITH_AS(LoadedModel::open(cut), doctest::Contains(named.c_str()), mq::Error);
    vk::Context ctx(validated_options());
    CHECK_THROWS_WITH_AS(rt::ModelSession(ctx, cut), doctest::Contains("runs past the end"),
                         mq::Error);
}
