// Two threads sharing one context: each records and submits its own work (own command pool per
// sequence and per thread), and the queue mutex is free while a thread waits for the GPU.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include "kernels/matmul_ops.hpp"
#include "support/vulkan_fixture.hpp"
#include "vulkan/command_sequence.hpp"

using namespace mq;
using namespace mq::test;

namespace {

// Thread `t` computes y = (t + 1) * x[0..3] for many inputs, recording and submitting its own
// sequence and one-time fills; returns how many results were wrong (or -1 on an exception).
int matvec_worker(vk::Context& ctx, uint32_t t, std::latch& start, int rounds) {
    try {
        kernels::KernelLibrary lib(ctx);
        kernels::MatMulOps ops(lib);
        const float scale = float(t + 1);
        std::vector<float> w(4 * 128, 0.0f);
        for (uint32_t r = 0; r < 4; ++r) w[r * 128 + r] = scale;
        kernels::GpuDenseMatrix dw(ctx, w, 4, 128);
        vk::Buffer xb(ctx, 128 * 4), yb(ctx, 16), scratch(ctx, 4096);
        xb.fill_zero();
        auto plan = ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb)});
        start.arrive_and_wait();
        int wrong = 0;
        for (int i = 0; i < rounds; ++i) {
            vk::CommandSequence seq(ctx);  // recorded on this thread while the other submits
            seq.begin();
            plan.record(seq);
            seq.end();
            const float base = float(i * 10 + t);
            std::vector<float> x = {base, base + 1, base + 2, base + 3};
            xb.upload(x.data(), 16);
            seq.submit();
            std::vector<float> y = yb.read<float>(4);
            for (uint32_t j = 0; j < 4; ++j) wrong += y[j] != scale * x[j];
            ctx.run_once([&](VkCommandBuffer cb) {  // the thread's own one-time pool
                vkCmdFillBuffer(cb, scratch.handle(), 0, VK_WHOLE_SIZE, 0x01010101u * (i & 255));
            });
        }
        return wrong;
    } catch (const std::exception& e) {
        MESSAGE("thread " << t << ": " << e.what());
        return -1;
    }
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "two threads record and submit concurrently, both correct") {
    constexpr int kRounds = 40;
    std::latch start(2);
    int wrong[2] = {};
    std::thread a([&] { wrong[0] = matvec_worker(ctx, 0, start, kRounds); });
    std::thread b([&] { wrong[1] = matvec_worker(ctx, 1, start, kRounds); });
    a.join();
    b.join();
    CHECK(wrong[0] == 0);
    CHECK(wrong[1] == 0);
}

TEST_CASE_FIXTURE(VulkanFixture, "the queue is free for other threads while one waits") {
    VkEventCreateInfo eci{VK_STRUCTURE_TYPE_EVENT_CREATE_INFO};
    VkEvent event = VK_NULL_HANDLE;
    REQUIRE(vkCreateEvent(ctx.device(), &eci, nullptr, &event) == VK_SUCCESS);
    vk::Buffer out(ctx, 256);
    out.fill_zero();
    std::atomic<bool> recorded{false};
    // A submission that cannot finish before the host sets the event: its thread waits on its
    // fence for as long as this test likes.
    std::thread waiter([&] {
        ctx.run_once([&](VkCommandBuffer cb) {
            vkCmdWaitEvents(cb, 1, &event, VK_PIPELINE_STAGE_HOST_BIT,
                            VK_PIPELINE_STAGE_TRANSFER_BIT, 0, nullptr, 0, nullptr, 0, nullptr);
            vkCmdFillBuffer(cb, out.handle(), 0, VK_WHOLE_SIZE, 7);
            recorded = true;
        });
    });
    while (!recorded) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it submit and wait
    // The queue mutex must be obtainable while the other thread waits (it is held only for the
    // submission itself). Never block on it here: a regression must fail, not hang.
    bool free = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!free && std::chrono::steady_clock::now() < deadline) {
        if (ctx.queue_mutex().try_lock()) {
            free = true;
            ctx.queue_mutex().unlock();
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    CHECK_MESSAGE(free, "the queue mutex stayed locked during another thread's fence wait");
    vkSetEvent(ctx.device(), event);
    waiter.join();
    CHECK(out.read<uint32_t>(1)[0] == 7u);  // the waiting submission ran once released
    vkDestroyEvent(ctx.device(), event, nullptr);
}
