// The persistent pool: every index of [0, n) runs exactly once, errors come back to the caller,
// nested and concurrent calls do not deadlock.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cpu/thread_pool.hpp"

using mq::cpu::ThreadPool;

TEST_CASE("thread pool covers every index exactly once at 1, 2 and 3 threads") {
    for (unsigned threads : {1u, 2u, 3u}) {
        ThreadPool pool(threads);
        CHECK(pool.size() == threads);
        for (uint32_t n : {0u, 1u, 2u, 3u, 7u, 1000u}) {
            for (int rep = 0; rep < 50; ++rep) {
                std::vector<std::atomic<int>> hits(n);
                pool.parallel_for(n, [&](uint32_t b, uint32_t e) {
                    REQUIRE(b < e);
                    REQUIRE(e <= n);
                    for (uint32_t i = b; i < e; ++i) hits[i].fetch_add(1);
                });
                int wrong = 0;
                for (auto& h : hits) wrong += h.load() != 1;
                CAPTURE(threads);
                CAPTURE(n);
                REQUIRE(wrong == 0);
            }
        }
    }
}

TEST_CASE("thread pool default size is the physical core count") {
    ThreadPool pool;
    CHECK(pool.size() == mq::cpu::physical_core_count());
    CHECK(pool.size() >= 1);
}

TEST_CASE("thread pool rethrows an exception from a worker's chunk and stays usable") {
    ThreadPool pool(3);
    CHECK_THROWS_AS(pool.parallel_for(90,
                                      [](uint32_t b, uint32_t e) {
                                          if (b >= 60) throw std::runtime_error("last chunk");
                                      }),
                    std::runtime_error);
    std::atomic<uint32_t> sum{0};
    pool.parallel_for(90, [&](uint32_t b, uint32_t e) { sum += e - b; });
    CHECK(sum == 90);
}

TEST_CASE("thread pool runs a nested call serially and concurrent callers take turns") {
    ThreadPool pool(2);
    std::atomic<uint32_t> inner{0};
    pool.parallel_for(4, [&](uint32_t b, uint32_t e) {
        for (uint32_t i = b; i < e; ++i)
            pool.parallel_for(10, [&](uint32_t b2, uint32_t e2) { inner += e2 - b2; });
    });
    CHECK(inner == 40);

    std::atomic<uint64_t> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 3; ++c)
        callers.emplace_back([&] {
            for (int rep = 0; rep < 200; ++rep)
                pool.parallel_for(100, [&](uint32_t b, uint32_t e) { total += e - b; });
        });
    for (auto& t : callers) t.join();
    CHECK(total == 3u * 200u * 100u);
}
