// Device limits are respected: tensors larger than the storage-binding limit are bound as row
// ranges (proved by forcing a tiny limit), and limits the kernels cannot meet give errors that
// name the problem.
#include <doctest/doctest.h>

#include "kernel_harness.hpp"
#include "quant/reference_ops.hpp"

using namespace mq;
using namespace mq::test;

namespace {
struct SmallLimitFixture {
    vk::Context ctx{[] {
        auto o = validated_options();
        o.storage_range_limit = 8192;  // bytes per storage binding
        return o;
    }()};
    ~SmallLimitFixture() { CHECK(ctx.validation_message_count() == 0); }
};
}  // namespace

TEST_CASE_FIXTURE(SmallLimitFixture, "a matrix over the binding limit is split into row ranges") {
    REQUIRE(ctx.max_storage_range() == 8192);
    kernels::KernelLibrary lib(ctx);
    kernels::MatMulOps ops(lib);
    const uint32_t n = 301, k = 300;  // 96 bytes per plane row: 85 rows per 8 KiB
    auto w = random_vector(uint64_t(n) * k, 9, 0.05f);
    quant::SlicedMatrix m = quant::slice_matrix(w, n, k);
    kernels::GpuSlicedMatrix gw(ctx, m);
    CHECK(gw.chunks.size() > 1);
    auto x = random_vector(k, 4);
    vk::Buffer xb = upload_activations(ctx, x, 1, k), yb(ctx, n * 4),
               db = upload_u32(ctx, {2, 4, 1});
    auto plan = ops.mobislice_matvec(gw, {vk::whole(xb), vk::whole(yb)}, {vk::whole(db), 1});
    CHECK(plan.dispatches.size() == gw.chunks.size());
    run_plan(ctx, plan);
    CHECK(relative_error(yb.read<float>(n), quant::mobislice_matvec_reference(m, x, 4)) < 2e-5);

    const uint32_t tokens = 3;
    auto xt = random_vector(uint64_t(tokens) * k, 5);
    vk::Buffer xtb = upload_activations(ctx, xt, tokens, k), ytb(ctx, uint64_t(tokens) * n * 4);
    run_plan(ctx, ops.mobislice_matmat(gw, {vk::whole(xtb), tokens, vk::whole(ytb)},
                                       {vk::whole(db), 0}));
    CHECK(relative_error(ytb.read<float>(uint64_t(tokens) * n),
                         quant::mobislice_matmat_reference(m, xt, std::vector<uint32_t>{2, 4, 1})) <
          2e-5);

    kernels::GpuDenseMatrix dw(ctx, w, n, k);  // 1536 bytes per padded row
    CHECK(dw.chunks.size() > 1);
    run_plan(ctx, ops.dense_matvec(dw, {vk::whole(xb), vk::whole(yb)}));
    auto dense_ref = quant::dense_matmat_reference(w, n, k, x, 1);
    CHECK(relative_error(yb.read<float>(n), dense_ref) < 2e-5);
    run_plan(ctx, ops.dense_matmat(dw, {vk::whole(xtb), tokens, vk::whole(ytb)}));
    CHECK(relative_error(ytb.read<float>(uint64_t(tokens) * n),
                         quant::dense_matmat_reference(w, n, k, xt, tokens)) < 2e-5);

    kernels::GpuDenseMatrix hw(ctx, w, n, k, kernels::WeightFormat::F16);  // 768 bytes per row
    CHECK(hw.chunks.size() > 1);
    run_plan(ctx, ops.dense_matvec(hw, {vk::whole(xb), vk::whole(yb)}));
    CHECK(relative_error(yb.read<float>(n), dense_ref) < 2e-3);  // fp16 rounding of weights
}

TEST_CASE_FIXTURE(SmallLimitFixture, "a row that cannot fit the binding limit is a clear error") {
    auto w = random_vector(2 * 4096, 1);
    CHECK_THROWS_WITH_AS(kernels::GpuDenseMatrix(ctx, w, 2, 4096),
                         doctest::Contains("storage binding limit"), mq::Error);
}

TEST_CASE("split_rows keeps every range aligned and within the limit") {
    const uint64_t widths[] = {96, 12};
    auto chunks = kernels::split_rows(1000, widths, 8192, 64);
    uint32_t covered = 0;
    for (auto& c : chunks) {
        CHECK(c.row0 == covered);
        CHECK(c.rows * 96 <= 8192);
        CHECK((c.row0 * 96) % 64 == 0);
        CHECK((c.row0 * 12) % 64 == 0);
        covered += c.rows;
    }
    CHECK(covered == 1000);
}
