#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.hpp"
#include "kernels/matmul_ops.hpp"
#include "support/vulkan_fixture.hpp"
#include "vulkan/command_sequence.hpp"

using namespace mq;
using namespace mq::test;
namespace fs = std::filesystem;

TEST_CASE("devices are listed with the limits the kernels depend on") {
    auto devices = vk::list_devices();
    REQUIRE(!devices.empty());
    for (auto& d : devices) {
        CAPTURE(d.name);
        CHECK(!d.name.empty());
        CHECK(d.max_storage_buffer_range >= 1u << 27);  // Vulkan guarantees at least 128 MiB
        CHECK(d.max_uniform_buffer_range >= 16384);
        CHECK(d.max_workgroup_count[0] >= 65535);
        CHECK(d.subgroup_size >= 1);
    }
}

TEST_CASE("a device is chosen by index, by name, or by preference") {
    auto devices = vk::list_devices();
    CHECK(vk::select_device(devices, "0") == 0);
    std::string part = devices[0].name.substr(0, 4);
    CHECK(devices[vk::select_device(devices, part)].name.find(part) != std::string::npos);
    uint32_t best = vk::select_device(devices, "");
    for (auto& d : devices) CHECK(devices[best].preference() >= d.preference());
    CHECK_THROWS_WITH_AS(vk::select_device(devices, "99"), doctest::Contains("does not exist"),
                         mq::Error);
    CHECK_THROWS_WITH_AS(vk::select_device(devices, "no-such-gpu"),
                         doctest::Contains(devices[0].name.c_str()), mq::Error);
}

TEST_CASE("MOBIQUANT_DEVICE picks the device, and a bad value is an error, not a crash") {
    setenv("MOBIQUANT_DEVICE", "no-such-gpu", 1);
    CHECK_THROWS_WITH_AS(vk::Context{validated_options()}, doctest::Contains("no-such-gpu"),
                         mq::Error);
    setenv("MOBIQUANT_DEVICE", "0", 1);
    vk::Context ctx(validated_options());
    CHECK(ctx.info().index == 0);
    unsetenv("MOBIQUANT_DEVICE");
}

TEST_CASE_FIXTURE(VulkanFixture, "buffers round-trip data and refuse out-of-range access") {
    vk::Buffer b(ctx, 1 << 20);
    std::vector<uint32_t> v(1000);
    for (uint32_t i = 0; i < v.size(); ++i) v[i] = i * 2654435761u;
    b.upload(v.data(), v.size() * 4, 4096);
    CHECK(b.read<uint32_t>(v.size(), 4096) == v);
    CHECK_THROWS_AS(b.upload(v.data(), v.size() * 4, (1 << 20) - 8), mq::Error);
    vk::Buffer host(ctx, 64, vk::MemoryKind::Host);
    CHECK(host.mapped());
    CHECK_THROWS_WITH_AS(vk::Buffer(ctx, 0), doctest::Contains("empty"), mq::Error);
}

TEST_CASE_FIXTURE(VulkanFixture, "a recorded sequence is resubmitted with new inputs and timed") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    std::vector<float> w(4 * 128, 0.0f);
    for (uint32_t r = 0; r < 4; ++r) w[r * 128 + r] = 1.0f;  // y = x[0..3]
    kernels::GpuDenseMatrix dw(ctx, w, 4, 128);
    vk::Buffer xb(ctx, 128 * 4), yb(ctx, 16);
    xb.fill_zero();
    auto plan = ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb)});
    vk::CommandSequence seq(ctx, /*timestamps=*/true);
    seq.begin();
    plan.record(seq);
    seq.end();
    for (float base : {1.0f, 10.0f, -3.0f}) {
        std::vector<float> x = {base, base + 1, base + 2, base + 3};
        xb.upload(x.data(), 16);
        seq.submit();
        CHECK(yb.read<float>(4) == x);
    }
    auto timings = seq.timings();
    REQUIRE(timings.size() == 1);
    CHECK(timings[0].label == "dense_matvec");
    CHECK(timings[0].microseconds > 0);
}

TEST_CASE("the pipeline cache is written on exit and read back on the next start") {
    fs::path dir = fs::temp_directory_path() / "mq_test_pipeline_cache";
    fs::remove_all(dir);
    auto options = validated_options();
    options.pipeline_cache = true;
    options.cache_dir = dir;
    {
        vk::Context ctx(options);
        kernels::KernelLibrary lib(ctx);
        lib.get({"stream_read",
                 {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER},
                 8,
                 {64}});
    }
    REQUIRE(fs::exists(dir));
    auto files = std::distance(fs::directory_iterator(dir), fs::directory_iterator{});
    CHECK(files == 1);
    fs::path file = fs::directory_iterator(dir)->path();
    auto size = fs::file_size(file);
    CHECK(size >= 16);  // at least the header (lavapipe keeps nothing else)
    auto read_bytes = [](const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string saved = read_bytes(file);
    {
        vk::Context ctx(options);  // starts from the saved cache
        CHECK(ctx.pipeline_cache_loaded_bytes() == size);
        CHECK(ctx.validation_message_count() == 0);
    }
    // The cache it saves again holds what it read (nothing new was compiled).
    CHECK(read_bytes(file) == saved);
    // A corrupt cache file must not stop the program.
    {
        std::ofstream(file, std::ios::binary | std::ios::trunc)
            << "garbage garbage garbage garbage garbage";
    }
    vk::Context ctx(options);
    CHECK(ctx.validation_message_count() == 0);
    fs::remove_all(dir);
}

TEST_CASE_FIXTURE(VulkanFixture, "a missing feature or limit is an error that names it") {
    CHECK_THROWS_WITH_AS(ctx.require(false, "shaderInt64"), doctest::Contains("shaderInt64"),
                         mq::Error);
    kernels::KernelLibrary lib(ctx);
    vk::Kernel& k = lib.get({"stream_read",
                             {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER},
                             8,
                             {64}});
    vk::Buffer b(ctx, 1024);
    // Unaligned offsets and too many workgroups are caught before they reach the driver.
    if (ctx.info().min_storage_buffer_offset_alignment > 1)
        CHECK_THROWS_WITH_AS(k.bind({{&b, 1, 64}, vk::whole(b)}), doctest::Contains("multiple of"),
                             mq::Error);
    vk::CommandSequence seq(ctx);
    seq.begin();
    uint32_t push[2] = {1, 1};
    VkDescriptorSet set = k.bind({vk::whole(b), vk::whole(b)});
    CHECK_THROWS_WITH_AS(seq.dispatch(k, set, push, 8, ctx.info().max_workgroup_count[0] + 1u),
                         doctest::Contains("exceed"), mq::Error);
    seq.end();
    CHECK_THROWS_WITH_AS(lib.get({"no_such_shader", {}, 0, {}}),
                         doctest::Contains("no_such_shader"), mq::Error);
}

TEST_CASE("allocations past the memory budget fail as out of device memory and are undone") {
    auto options = validated_options();
    options.memory_budget = 1 << 20;
    vk::Context ctx(options);
    {
        vk::Buffer a(ctx, 512 << 10);
        CHECK(ctx.allocated_bytes() >= 512u << 10);
        CHECK_THROWS_WITH_AS(vk::Buffer(ctx, 768 << 10), doctest::Contains("out of device memory"),
                             mq::Error);
        vk::Buffer b(ctx, 256 << 10);  // what still fits is allocated
        vk::Buffer moved = std::move(b);
    }
    CHECK(ctx.allocated_bytes() == 0);
    vk::Buffer whole_budget(ctx, 1 << 20);  // freed memory counts again
    CHECK(ctx.validation_message_count() == 0);
}
