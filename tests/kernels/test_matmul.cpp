// Every matrix kernel against its C++ reference (quant/reference_ops). Tolerance: the largest
// absolute difference must be below 2e-5 of the largest reference output (fp32 accumulation in
// a different order, against double).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

#include "core/half.hpp"
#include "kernel_harness.hpp"
#include "quant/reference_ops.hpp"
#include "vulkan/shader_registry.hpp"

using namespace mq;
using namespace mq::test;

namespace {

constexpr double kTolerance = 2e-5;

struct Shape {
    uint32_t n, k;
};
// Ragged edges on purpose: N odd or below a workgroup, K not a multiple of 128 or of 32.
const Shape kShapes[] = {{64, 128}, {1, 128},   {63, 256}, {65, 200},
                         {127, 77}, {33, 4100}, {130, 33}};

}  // namespace

TEST_CASE("every shader the matrix products can pick is built into the binary") {
    const auto names = kernels::matmul_shader_names();
    CHECK(names.size() == 17);  // 3 + 6 mat-vec variants, 4 + 4 mat-mat
    for (std::string_view name : names) {
        CAPTURE(name);
        CHECK(vk::find_shader(name).size() > 5);  // at least a SPIR-V header
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "mixed-depth mat-vec matches the reference at every depth") {
    kernels::KernelLibrary lib(ctx);
    // On a CPU driver a one-token product runs as a one-token mat-mat; on a GPU as the mat-vec.
    for (auto tuning : {kernels::MatMatTuning::CpuDriver, kernels::MatMatTuning::Gpu}) {
        kernels::MatMulOps ops(lib, kernels::MatVecLayout::Auto, tuning);
        CAPTURE(static_cast<int>(tuning));
        for (auto [n, k] : kShapes) {
            auto w = random_vector(uint64_t(n) * k, n * 31 + k, 0.05f);
            auto x = random_vector(k, k);
            quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
            kernels::GpuSlicedMatrix gw(ctx, m);
            vk::Buffer xb = upload_activations(ctx, x, 1, k);
            vk::Buffer yb(ctx, n * 4);
            vk::Buffer depth(ctx, 4);
            auto plan =
                ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(yb)}, {vk::whole(depth), 0});
            // One recorded sequence; the depth changes in its GPU buffer between submissions.
            vk::CommandSequence seq(ctx);
            seq.begin();
            plan.record(seq);
            seq.end();
            for (uint32_t d = 1; d <= 4; ++d) {
                depth.upload(&d, 4);
                seq.submit();
                auto ref = quant::mobislice_matvec_reference(m, x, d);
                double err = relative_error(yb.read<float>(n), ref);
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(d);
                CHECK(err < kTolerance);
            }
        }
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "full-depth mat-vec (planes combined into 8-bit codes) matches the reference") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib, kernels::MatVecLayout::RowPerLane);
    for (auto [n, k] : kShapes) {
        CAPTURE(n);
        CAPTURE(k);
        auto w = random_vector(uint64_t(n) * k, n * 7 + k, 0.05f);
        auto x = random_vector(k, k + 5);
        quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
        kernels::GpuSlicedMatrix gw(ctx, m);
        vk::Buffer xb = upload_activations(ctx, x, 1, k), yb(ctx, n * 4);
        vk::Buffer fours = upload_u32(ctx, {4});
        auto plan =
            ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(yb)}, {vk::whole(fours), 0, true});
        CHECK(plan.dispatches[0].kernel->spec().spec_constants.back() == 1u);  // the variant ran
        run_plan(ctx, plan);
        CHECK(relative_error(yb.read<float>(n), quant::mobislice_matvec_reference(m, x, 4)) <
              kTolerance);
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "mat-vec and mat-mat with K too large for a uniform buffer use storage reads") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    const uint32_t n = 9;
    const uint32_t k = static_cast<uint32_t>(ctx.info().max_uniform_buffer_range / 4) + 100;
    auto w = random_vector(uint64_t(n) * k, 1, 0.05f);
    auto x = random_vector(k, 2);
    quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
    kernels::GpuSlicedMatrix gw(ctx, m);
    vk::Buffer xb = upload_activations(ctx, x, 1, k), yb(ctx, n * 4);
    vk::Buffer depth = upload_u32(ctx, {3});
    auto plan = ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(yb)}, {vk::whole(depth), 0});
    CHECK(plan.dispatches[0].kernel->spec().shader == "mobislice_matvec_xssbo");
    run_plan(ctx, plan);
    CHECK(relative_error(yb.read<float>(n), quant::mobislice_matvec_reference(m, x, 3)) <
          kTolerance);

    kernels::GpuDenseMatrix dw(ctx, w, n, k);
    auto dplan = ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb)});
    run_plan(ctx, dplan);
    CHECK(relative_error(yb.read<float>(n), quant::dense_matmat_reference(w, n, k, x, 1)) <
          kTolerance);

    // A batch whose token rows do not fit a uniform buffer: one storage-read mat-vec per token,
    // each with its own depth.
    const uint32_t tokens = 3;
    auto xt = random_vector(uint64_t(tokens) * k, 3);
    vk::Buffer xtb = upload_activations(ctx, xt, tokens, k), ytb(ctx, uint64_t(tokens) * n * 4);
    vk::Buffer depths = upload_u32(ctx, {4, 1, 3});
    run_plan(ctx, ops.mobislice_matmat(gw, {vk::whole(xtb), tokens, vk::whole(ytb)},
                                       {vk::whole(depths), 0}));
    CHECK(relative_error(ytb.read<float>(uint64_t(tokens) * n),
                         quant::mobislice_matmat_reference(m, xt, std::vector<uint32_t>{4, 1, 3})) <
          kTolerance);
    run_plan(ctx, ops.dense_matmat(dw, {vk::whole(xtb), tokens, vk::whole(ytb)}));
    CHECK(relative_error(ytb.read<float>(uint64_t(tokens) * n),
                         quant::dense_matmat_reference(w, n, k, xt, tokens)) < kTolerance);
}

TEST_CASE_FIXTURE(VulkanFixture, "mat-mat gives each token its own depth, T = 1..64") {
    kernels::KernelLibrary lib(ctx);
    // A CPU driver's cut (tiles of up to 4 tokens, 16 rows per invocation: 3, 4 and 5 tokens are
    // one tile of 3, one of 4 and two overlapping tiles of 3) and a GPU's (tiles of up to 16
    // tokens, 1, 2 or 4 rows per invocation by tile size). Each token row of a batch must have
    // exactly the bits of the token's one-token product: the order of its sums may not depend on
    // the batch, the tile or where the tile's rows are bound.
    for (auto tuning : {kernels::MatMatTuning::CpuDriver, kernels::MatMatTuning::Gpu}) {
        kernels::MatMulOps ops(lib, kernels::MatVecLayout::Auto, tuning);
        CAPTURE(static_cast<int>(tuning));
        // K = 4100: only 3 token rows fit a uniform buffer, so the batch is cut into many tiles
        // (a CPU driver's tile of 4 takes two uniform bindings, 3 rows and 1).
        for (auto [n, k] : {Shape{65, 200}, Shape{64, 256}, Shape{31, 77}, Shape{33, 4100}}) {
            auto w = random_vector(uint64_t(n) * k, n + k, 0.05f);
            quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
            kernels::GpuSlicedMatrix gw(ctx, m);
            constexpr uint32_t kMost = 64;
            auto x_all = random_vector(uint64_t(kMost) * k, n * k);
            std::vector<uint32_t> depths(kMost + 3, 0);
            for (uint32_t t = 0; t < kMost; ++t) depths[3 + t] = 1 + (t * 7 + t / 3) % 4;
            vk::Buffer db = upload_u32(ctx, depths);
            // Write into a wider output (stride n + 5, offset 2) as a fused q/k/v output would.
            const uint32_t stride = n + 5, offset = 2;
            auto product = [&](uint32_t t0, uint32_t tokens) {
                std::vector<float> x(x_all.begin() + uint64_t(t0) * k,
                                     x_all.begin() + uint64_t(t0 + tokens) * k);
                vk::Buffer xb = upload_activations(ctx, x, tokens, k);
                vk::Buffer yb(ctx, uint64_t(tokens) * stride * 4);
                yb.fill_zero();
                auto plan =
                    ops.mobislice_matmat(gw, {vk::whole(xb), tokens, vk::whole(yb), stride, offset},
                                         {vk::whole(db), 3 + t0});
                if (tuning == kernels::MatMatTuning::CpuDriver && k == 4100 && tokens == 4)
                    CHECK(plan.dispatches[0].kernel->spec().spec_constants.back() == 3u);
                run_plan(ctx, plan);
                auto all = yb.read<float>(uint64_t(tokens) * stride);
                CHECK(all[0] == 0.0f);  // outside the written columns stays untouched
                std::vector<float> got;
                for (uint32_t t = 0; t < tokens; ++t)
                    got.insert(got.end(), all.begin() + t * stride + offset,
                               all.begin() + t * stride + offset + n);
                return got;
            };
            std::vector<float> alone;
            for (uint32_t t = 0; t < kMost; ++t) {
                auto y = product(t, 1);
                alone.insert(alone.end(), y.begin(), y.end());
            }
            for (uint32_t tokens : {1u, 2u, 3u, 4u, 5u, 7u, 8u, 9u, 33u, 64u}) {
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(tokens);
                auto got = product(0, tokens);
                std::vector<float> x(x_all.begin(), x_all.begin() + uint64_t(tokens) * k);
                std::vector<uint32_t> used(depths.begin() + 3, depths.begin() + 3 + tokens);
                CHECK(relative_error(got, quant::mobislice_matmat_reference(m, x, used)) <
                      kTolerance);
                CHECK(std::equal(got.begin(), got.end(), alone.begin()));
            }
        }
    }
}

namespace {

// The dense products of `tokens` tokens under both mat-mat cuts against the reference: a CPU
// driver's (tiles of up to 4 tokens, 16 rows per invocation: 1-4 tokens are one tile, 5 two
// overlapping tiles of 3) and a GPU's (tiles of up to 32 tokens, one row per invocation). Each
// token row of every batch must also have exactly the bits of that token's one-token product
// under the same cut: the order of a row's sum may not depend on the batch or the tile.
// `weights` are what the kernel should multiply by (the fp16-rounded ones for fp16 storage).
void check_dense_matmat(vk::Context& ctx, const kernels::GpuDenseMatrix& dw,
                        const std::vector<float>& weights, uint32_t seed,
                        std::initializer_list<uint32_t> token_counts) {
    const uint32_t n = dw.rows, k = dw.cols;
    kernels::KernelLibrary lib(ctx);
    for (auto tuning : {kernels::MatMatTuning::CpuDriver, kernels::MatMatTuning::Gpu}) {
        kernels::MatMulOps ops(lib, kernels::MatVecLayout::Auto, tuning);
        CAPTURE(static_cast<int>(tuning));
        const uint32_t most = std::max(token_counts);
        auto x = random_vector(uint64_t(most) * k, seed);
        // Each token alone, a one-token mat-mat.
        std::vector<float> alone;
        for (uint32_t t = 0; t < most; ++t) {
            std::vector<float> xt(x.begin() + uint64_t(t) * k, x.begin() + uint64_t(t + 1) * k);
            vk::Buffer xb = upload_activations(ctx, xt, 1, k), yb(ctx, uint64_t(n) * 4);
            run_plan(ctx, ops.dense_matmat(dw, {vk::whole(xb), 1, vk::whole(yb)}));
            auto y = yb.read<float>(n);
            alone.insert(alone.end(), y.begin(), y.end());
        }
        for (uint32_t tokens : token_counts) {
            CAPTURE(tokens);
            std::vector<float> xt(x.begin(), x.begin() + uint64_t(tokens) * k);
            vk::Buffer xb = upload_activations(ctx, xt, tokens, k);
            vk::Buffer yb(ctx, uint64_t(tokens) * n * 4);
            run_plan(ctx, ops.dense_matmat(dw, {vk::whole(xb), tokens, vk::whole(yb)}));
            auto got = yb.read<float>(uint64_t(tokens) * n);
            CHECK(relative_error(got, quant::dense_matmat_reference(weights, n, k, xt, tokens)) <
                  kTolerance);
            CHECK(std::equal(got.begin(), got.end(), alone.begin()));
        }
    }
}

}  // namespace

TEST_CASE_FIXTURE(VulkanFixture, "dense fp32 mat-vec and mat-mat match the reference") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    for (auto [n, k] : kShapes) {
        CAPTURE(n);
        CAPTURE(k);
        auto w = random_vector(uint64_t(n) * k, n * 7 + k, 0.05f);
        kernels::GpuDenseMatrix dw(ctx, w, n, k);
        auto x = random_vector(k, 1 + k);
        vk::Buffer xb = upload_activations(ctx, x, 1, k), yb(ctx, uint64_t(n) * 4);
        run_plan(ctx, ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb)}));
        CHECK(relative_error(yb.read<float>(n), quant::dense_matmat_reference(w, n, k, x, 1)) <
              kTolerance);
        check_dense_matmat(ctx, dw, w, n + k, {1u, 2u, 3u, 4u, 5u, 17u, 33u, 64u});
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "fp16 weights: mat-vec and mat-mat match the reference") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    for (auto [n, k] : kShapes) {
        CAPTURE(n);
        CAPTURE(k);
        auto w = random_vector(uint64_t(n) * k, n * 5 + k, 0.05f);
        kernels::GpuDenseMatrix hw(ctx, w, n, k, kernels::WeightFormat::F16);
        CHECK(hw.bytes_read() == uint64_t(n) * k * 2);
        // The kernels must reproduce the product with the fp16-rounded weights exactly (up to
        // fp32 accumulation order).
        for (auto& v : w) v = half_to_float(float_to_half(v));
        auto x = random_vector(k, 1 + 2 * k);
        vk::Buffer xb = upload_activations(ctx, x, 1, k), yb(ctx, uint64_t(n) * 4);
        run_plan(ctx, ops.dense_matvec(hw, {vk::whole(xb), vk::whole(yb)}));
        CHECK(relative_error(yb.read<float>(n), quant::dense_matmat_reference(w, n, k, x, 1)) <
              kTolerance);
        check_dense_matmat(ctx, hw, w, n + 2 * k, {1u, 2u, 3u, 4u, 5u, 6u, 33u});
    }
}

TEST_CASE_FIXTURE(VulkanFixture,
                  "the GPU mat-vec layout (rows per subgroup) matches the reference: MoBiSlice "
                  "at every depth, dense fp32 and fp16") {
    kernels::KernelLibrary lib(ctx);
    // A CPU device such as lavapipe gets the row-per-lane layout unless asked otherwise.
    if (ctx.info().type == VK_PHYSICAL_DEVICE_TYPE_CPU && !std::getenv("MOBIQUANT_MATVEC_LAYOUT"))
        CHECK(kernels::MatMulOps(lib).matvec_layout() == kernels::MatVecLayout::RowPerLane);
    kernels::MatMulOps ops(lib, kernels::MatVecLayout::RowPerSubgroup);
    for (auto [n, k] : kShapes) {
        CAPTURE(n);
        CAPTURE(k);
        auto w = random_vector(uint64_t(n) * k, n * 11 + k, 0.05f);
        auto x = random_vector(k, k + 1);
        vk::Buffer xb = upload_activations(ctx, x, 1, k);
        const uint32_t offset = 3;  // written after other outputs, as a fused q/k/v would be
        vk::Buffer yb(ctx, (n + offset) * 4), depth(ctx, 4);
        auto read = [&] {
            auto all = yb.read<float>(n + offset);
            return std::vector<float>(all.begin() + offset, all.end());
        };

        quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
        kernels::GpuSlicedMatrix gw(ctx, m);
        auto plan =
            ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(yb), offset}, {vk::whole(depth), 0});
        CHECK(plan.dispatches[0].kernel->spec().shader == "mobislice_matvec_subgroup");
        for (uint32_t d = 1; d <= 4; ++d) {
            CAPTURE(d);
            depth.upload(&d, 4);
            run_plan(ctx, plan);
            CHECK(relative_error(read(), quant::mobislice_matvec_reference(m, x, d)) < kTolerance);
        }

        kernels::GpuDenseMatrix dw(ctx, w, n, k);
        run_plan(ctx, ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb), offset}));
        CHECK(relative_error(read(), quant::dense_matmat_reference(w, n, k, x, 1)) < kTolerance);
        kernels::GpuDenseMatrix hw(ctx, w, n, k, kernels::WeightFormat::F16);
        for (auto& v : w) v = half_to_float(float_to_half(v));
        run_plan(ctx, ops.dense_matvec(hw, {vk::whole(xb), vk::whole(yb), offset}));
        CHECK(relative_error(read(), quant::dense_matmat_reference(w, n, k, x, 1)) < kTolerance);
    }
}

TEST_CASE_FIXTURE(VulkanFixture, "a product that would overrun its buffers is refused") {
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    auto w = random_vector(64 * 128, 1);
    kernels::GpuSlicedMatrix gw(ctx, quant::slice_matrix(w, 64, 128));
    vk::Buffer xb(ctx, 128 * 4), small_y(ctx, 32 * 4), depth(ctx, 4);
    CHECK_THROWS_WITH_AS(
        ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(small_y)}, {vk::whole(depth), 0}),
        doctest::Contains("output buffer"), mq::Error);
    CHECK_THROWS_WITH_AS(
        ops.mobislice_matvec(gw, {vk::whole(small_y), vk::whole(xb)}, {vk::whole(depth), 0}),
        doctest::Contains("activation buffer"), mq::Error);
}
