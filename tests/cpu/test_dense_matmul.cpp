// Dense products against the double reference: fp32 and fp16 storage, one token and several,
// ragged shapes, 1-3 threads.
#include <doctest/doctest.h>

#include "core/error.hpp"
#include "core/half.hpp"
#include "cpu/reference_kernels.hpp"
#include "cpu/simd_target.hpp"
#include "cpu_test_data.hpp"
#include "quant/reference_ops.hpp"

using namespace mq;
using namespace mq::test;

namespace {
// Of the largest output; the largest error measured over these shapes is 1.2e-6.
constexpr double kTolerance = 4e-6;
}  // namespace

TEST_CASE("dense reference matches quant's dense reference") {
    auto w = random_vector(65 * 200, 3);
    auto x = random_vector(3 * 200, 4);
    auto m = cpu::DenseMatrixCpu::prepare(w, 65, 200, cpu::DenseFormat::F32);
    std::vector<float> y(3 * 65);
    cpu::dense_matmul_reference(m, x.data(), 3, y.data());
    CHECK(relative_error(y, quant::dense_matmat_reference(w, 65, 200, x, 3)) < 1e-6);
    CHECK(m.bytes() == 65 * 200 * 4);
}

TEST_CASE("dense product matches the reference in fp32 and fp16, one token and several") {
    for (unsigned threads : {1u, 2u, 3u}) {
        cpu::ThreadPool pool(threads);
        for (auto [n, k] : kCpuShapes) {
            auto wf = random_vector(uint64_t(n) * k, n + k);
            for (auto format : {cpu::DenseFormat::F32, cpu::DenseFormat::F16}) {
                auto w = cpu::DenseMatrixCpu::prepare(wf, n, k, format);
                for (uint32_t tokens : {1u, 2u, 7u, 66u}) {  // 66: sgemm in fp32
                    auto x = random_vector(uint64_t(tokens) * k, k + tokens);
                    std::vector<float> y(uint64_t(tokens) * n), ref(y.size());
                    cpu::dense_matmul(w, x.data(), tokens, y.data(), pool);
                    cpu::dense_matmul_reference(w, x.data(), tokens, ref.data());
                    CAPTURE(threads);
                    CAPTURE(n);
                    CAPTURE(k);
                    CAPTURE(tokens);
                    CAPTURE(format == cpu::DenseFormat::F16);
                    CHECK(relative_error(y, ref) < kTolerance);
                }
            }
        }
    }
}

TEST_CASE("fp16 dense storage rounds each weight to the nearest half") {
    std::vector<float> w = {1.0f, 0.1f, -3.14159f, 65504.0f};
    auto m = cpu::DenseMatrixCpu::prepare(w, 2, 2, cpu::DenseFormat::F16);
    for (uint32_t i = 0; i < 4; ++i)
        CHECK(m.weight(i / 2, i % 2) == half_to_float(float_to_half(w[i])));
    CHECK(m.bytes() == 8);
    CHECK_THROWS_AS(cpu::DenseMatrixCpu::prepare(w, 3, 2, cpu::DenseFormat::F32), mq::Error);
}

TEST_CASE("dense SIMD products match the reference at every SIMD level this CPU has") {
    cpu::ThreadPool pool(2);
    for (const auto& target : cpu::simd_targets()) {
        cpu::use_simd_target(target.bits);
        for (auto [n, k] : kCpuShapes) {
            auto wf = random_vector(uint64_t(n) * k, n * 7 + k);
            for (auto format : {cpu::DenseFormat::F32, cpu::DenseFormat::F16}) {
                auto w = cpu::DenseMatrixCpu::prepare(wf, n, k, format);
                for (uint32_t tokens : {1u, 6u}) {
                    auto x = random_vector(uint64_t(tokens) * k, k * 3 + tokens);
                    std::vector<float> y(uint64_t(tokens) * n), ref(y.size());
                    cpu::dense_matmul(w, x.data(), tokens, y.data(), pool);
                    cpu::dense_matmul_reference(w, x.data(), tokens, ref.data());
                    CAPTURE(target.name);
                    CAPTURE(n);
                    CAPTURE(k);
                    CAPTURE(tokens);
                    CHECK(relative_error(y, ref) < kTolerance);
                }
            }
        }
    }
    cpu::use_simd_target(0);
}
