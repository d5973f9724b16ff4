// The MoBiSlice product with Highway SIMD, compiled for every x86 level (SSE4, AVX2, AVX-512, and
// AVX-512 with VNNI) and picked at run time.
//
// Per row and group of 128: y += s_k * (sum over its 16-column lanes of xs * sum q*x - z'_k *
// sum xs * sum x), q the depth-k code (u8), x the int8 activations, xs their scale; then the few
// outlier activations kept in fp32 (activations.hpp) add W_k(r, c) x_c one by one. A chunk of plane
// bytes is split into 4 code vectors by code position in the byte (the activations are stored in
// that order, see activations.hpp); planes are combined into 4-bit codes (two planes) and 8-bit
// codes (four) with shifts and masks, then u8 x i8 dot products accumulate 4 products per i32 lane
// (vpdpbusd with VNNI, pairs of i16 multiplies without). Tokens of one depth share each decoded
// chunk, so a prefill reads the weights once per row block, not once per token.
#include "cpu/sliced_matmul.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/half.hpp"
#include "cpu/prefetch.hpp"
#include "cpu/sliced_kernel.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/sliced_matmul.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mq::cpu::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR
// One-lane vectors cannot hold the 4-byte dot products: plain loops over the same layout.
void SlicedRows(const SlicedJob& job, uint32_t r0, uint32_t r1) {
    const uint32_t row_bytes = job.groups * 32;
    std::vector<float> s(job.groups), z(job.groups);
    for (uint32_t r = r0; r < r1; ++r) {
        const uint8_t* planes[4] = {};
        for (uint32_t e = 0; e < 4; ++e) planes[e] = job.planes[e] + uint64_t(r) * row_bytes;
        for (const TokenTile& tile : job.tiles) {
            const uint32_t d = tile.depth;
            for (uint32_t g = 0; g < job.groups; ++g) {
                const uint32_t sz = job.scale_zero[uint64_t(r) * job.groups + g];
                s[g] = quant::depth_scale(half_to_float(uint16_t(sz)), d);
                z[g] = quant::depth_zero(half_to_float(uint16_t(sz >> 16)), d);
            }
            for (uint32_t t = 0; t < tile.count; ++t) {
                const uint32_t token = tile.tokens[t];
                const int8_t* x = job.x + uint64_t(token) * job.x_row_bytes;
                float y = 0;
                for (uint32_t g = 0; g < job.groups; ++g) {
                    float dots = 0;  // sum over the group's i32 lanes of scale * dot
                    for (uint32_t lane = 0; lane < 8; ++lane) {
                        int32_t dot = 0;
                        for (uint32_t o = g * 32 + lane * 4; o < g * 32 + lane * 4 + 4; ++o)
                            for (uint32_t j = 0; j < 4; ++j)
                                dot += int32_t(WeightCode(planes, d, 4 * o + j)) *
                                       x[(o / 64) * 256 + j * 64 + o % 64];
                        dots += job.lane_scales[(uint64_t(token) * job.groups + g) * 8 + lane] *
                                float(dot);
                    }
                    y += s[g] *
                         (dots - z[g] * job.scaled_sums[uint64_t(token) * job.padded_groups + g]);
                }
                job.y[uint64_t(token) * job.rows + r] =
                    y + OutlierTerms(job, token, planes, d, s.data(), z.data());
            }
        }
    }
}
#else

// Plane bytes one step of the row loop reads from each plane (two groups on AVX-512).
constexpr size_t kChunkBytes = HWY_HAVE_SCALABLE ? 16 : HWY_MIN(64, HWY_MAX_BYTES);

#if HWY_ARCH_X86 && HWY_TARGET != HWY_AVX3_DL && HWY_TARGET <= HWY_SSSE3
// x86 without VNNI: pmaddubsw (u8 x i8 pairs to i16, saturating: exact while codes < 64, i.e.
// depths 1-3), then pmaddwd by ones sums pairs of pairs into i32 lanes, as vpdpbusd does.
#define MQ_HAVE_MADDUBS 1
HWY_INLINE __m128i QuadSums(__m128i codes, __m128i x) {
    return _mm_madd_epi16(_mm_maddubs_epi16(codes, x), _mm_set1_epi16(1));
}
#if HWY_TARGET <= HWY_AVX2
HWY_INLINE __m256i QuadSums(__m256i codes, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x), _mm256_set1_epi16(1));
}
#endif
#if HWY_TARGET <= HWY_AVX3
HWY_INLINE __m512i QuadSums(__m512i codes, __m512i x) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(codes, x), _mm512_set1_epi16(1));
}
#endif
#endif

// acc[k] += sum_{b<4} codes[4k+b] * x[4k+b] (u8 times i8) for codes below 4^kDepth; acc2
// collects what the i16 path of some targets adds separately (the caller sums acc and acc2).
template <uint32_t kDepth, class DI32, class VU8, class VI8>
HWY_INLINE void DotQuads(DI32 di32, VU8 codes, VI8 x, hn::Vec<DI32>& acc, hn::Vec<DI32>& acc2) {
#if defined(MQ_HAVE_MADDUBS)
    if constexpr (kDepth <= 3) {
        acc = hn::Add(acc, hn::Vec<DI32>{QuadSums(codes.raw, x.raw)});
        return;
    }
#endif
#if HWY_TARGET == HWY_AVX3_DL
    // Highway 1.0 has no u8 x i8 dot product; AVX3_DL guarantees AVX512-VNNI.
    (void)di32;
    (void)acc2;
    asm("vpdpbusd %2, %1, %0" : "+v"(acc.raw) : "v"(codes.raw), "v"(x.raw));
#else
    const hn::Repartition<int16_t, DI32> di16;
    const hn::Repartition<uint16_t, DI32> du16;
    const auto x16 = hn::BitCast(di16, x);
    const auto c_even = hn::BitCast(di16, hn::And(hn::BitCast(du16, codes), hn::Set(du16, 0xFF)));
    const auto c_odd = hn::BitCast(di16, hn::ShiftRight<8>(hn::BitCast(du16, codes)));
    acc = hn::ReorderWidenMulAccumulate(di32, c_even, hn::ShiftRight<8>(hn::ShiftLeft<8>(x16)), acc,
                                        acc2);
    acc = hn::ReorderWidenMulAccumulate(di32, c_odd, hn::ShiftRight<8>(x16), acc, acc2);
#endif
}

// The depth-k codes of the chunk at plane byte o, split by position j in the byte: q[j] byte i is
// the code of column 4*(byte i) + j. Shifts run on u16 lanes; the masks keep them inside bytes.
template <uint32_t kDepth, class D>
HWY_INLINE void DecodeCodes(D du8, const uint8_t* const* planes, size_t o, hn::Vec<D>* q) {
    const hn::Repartition<uint16_t, D> du16;
    auto load = [&](uint32_t e) { return hn::BitCast(du16, hn::LoadU(du8, planes[e] + o)); };
    const auto m03 = hn::Set(du16, 0x0303), m33 = hn::Set(du16, 0x3333);
    const auto mCC = hn::Set(du16, 0xCCCC), m0F = hn::Set(du16, 0x0F0F);
    const auto mF0 = hn::Set(du16, 0xF0F0);
    if constexpr (kDepth == 1) {
        const auto a = load(0);
        q[0] = hn::BitCast(du8, hn::And(a, m03));
        q[1] = hn::BitCast(du8, hn::And(hn::ShiftRight<2>(a), m03));
        q[2] = hn::BitCast(du8, hn::And(hn::ShiftRight<4>(a), m03));
        q[3] = hn::BitCast(du8, hn::And(hn::ShiftRight<6>(a), m03));
        return;
    }
    // Two planes -> 4-bit codes: `even` holds positions 0 (low nibble) and 2 (high nibble),
    // `odd` positions 1 and 3.
    auto pair = [&](uint32_t e, auto& even, auto& odd) {
        const auto a = load(e), b = load(e + 1);
        even = hn::Or(hn::ShiftLeft<2>(hn::And(a, m33)), hn::And(b, m33));
        odd = hn::Or(hn::And(a, mCC), hn::And(hn::ShiftRight<2>(b), m33));
    };
    hn::Vec<decltype(du16)> even, odd;
    pair(0, even, odd);
    if constexpr (kDepth == 2 || kDepth == 3) {
        auto c0 = hn::And(even, m0F), c1 = hn::And(odd, m0F);
        auto c2 = hn::And(hn::ShiftRight<4>(even), m0F), c3 = hn::And(hn::ShiftRight<4>(odd), m0F);
        if constexpr (kDepth == 3) {
            const auto c = load(2);
            c0 = hn::Or(hn::ShiftLeft<2>(c0), hn::And(c, m03));
            c1 = hn::Or(hn::ShiftLeft<2>(c1), hn::And(hn::ShiftRight<2>(c), m03));
            c2 = hn::Or(hn::ShiftLeft<2>(c2), hn::And(hn::ShiftRight<4>(c), m03));
            c3 = hn::Or(hn::ShiftLeft<2>(c3), hn::And(hn::ShiftRight<6>(c), m03));
        }
        q[0] = hn::BitCast(du8, c0);
        q[1] = hn::BitCast(du8, c1);
        q[2] = hn::BitCast(du8, c2);
        q[3] = hn::BitCast(du8, c3);
    } else {
        hn::Vec<decltype(du16)> even_lo, odd_lo;
        pair(2, even_lo, odd_lo);
        q[0] =
            hn::BitCast(du8, hn::Or(hn::And(hn::ShiftLeft<4>(even), mF0), hn::And(even_lo, m0F)));
        q[1] = hn::BitCast(du8, hn::Or(hn::And(hn::ShiftLeft<4>(odd), mF0), hn::And(odd_lo, m0F)));
        q[2] =
            hn::BitCast(du8, hn::Or(hn::And(even, mF0), hn::And(hn::ShiftRight<4>(even_lo), m0F)));
        q[3] = hn::BitCast(du8, hn::Or(hn::And(odd, mF0), hn::And(hn::ShiftRight<4>(odd_lo), m0F)));
    }
}

// The weight scale of each i32 lane of a chunk whose first group's scale is s[0] (8 lanes a
// group: a 64-byte chunk spans two groups, smaller ones part of one).
template <size_t kBytes, class DF>
HWY_INLINE hn::Vec<DF> ChunkScales(DF df, const float* s) {
    if constexpr (kBytes == 64) {
        const hn::Half<DF> dh;
        return hn::Combine(df, hn::Set(dh, s[1]), hn::Set(dh, s[0]));
    } else {
        return hn::Set(df, s[0]);
    }
}

// The finite fp16 value in the low 16 bits of each lane, exactly (subnormals and zero too).
template <class DU32>
HWY_INLINE hn::Vec<hn::RebindToFloat<DU32> > HalfToFloat(DU32 du32, hn::Vec<DU32> h) {
    const hn::RebindToFloat<DU32> df;
    const auto magnitude =
        hn::Mul(hn::BitCast(df, hn::ShiftLeft<13>(hn::And(h, hn::Set(du32, 0x7FFFu)))),
                hn::Set(df, 0x1p112f));
    const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du32, 0x8000u)));
    return hn::BitCast(df, hn::Or(hn::BitCast(du32, magnitude), sign));
}

// Output rows one pass over a full tile (kMaxTileTokens tokens) computes together: each
// activation load then feeds every row's codes, 1.5x faster once the rows are in cache (prefill).
// Two where there are 32 vector registers (AVX-512: 2 rows x 4 tokens of accumulators, 8 code
// vectors); one elsewhere. Smaller tiles (a decode step of 1-3 sequences) keep one row a pass:
// streaming from memory, the two interleaved row streams measured 1.3-2.3x slower.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr uint32_t kFullTileRows = 2;
#else
constexpr uint32_t kFullTileRows = 1;
#endif

// One chunk of kRows rows for the tile's tokens: facc[r][t] += per-lane scaled dot products.
// planes[r] and weight_scales[r] belong to row r of the pass. The sums of a row and token run
// in the same order whatever kRows is.
template <uint32_t kDepth, uint32_t kTokens, size_t kBytes, uint32_t kRows>
HWY_INLINE void RowChunk(const SlicedJob& job, const TokenTile& tile,
                         const uint8_t* const (*planes)[4], uint32_t o,
                         const float* const* weight_scales,
                         hn::Vec<hn::CappedTag<float, kBytes / 4> > (*facc)[kTokens]) {
    const hn::CappedTag<uint8_t, kBytes> du8;
    const hn::Repartition<int8_t, decltype(du8)> di8;
    const hn::Repartition<int32_t, decltype(du8)> di32;
    const hn::Repartition<float, decltype(du8)> df;
    hn::Vec<decltype(du8)> q[kRows][4];
    hn::Vec<decltype(df)> ws[kRows];
    for (uint32_t r = 0; r < kRows; ++r) {
        DecodeCodes<kDepth>(du8, planes[r], o, q[r]);
        ws[r] = ChunkScales<kBytes>(df, weight_scales[r] + o / 32);
    }
    const size_t x_offset = (o / 64) * 256 + o % 64;
    for (uint32_t t = 0; t < kTokens; ++t) {
        const uint32_t token = tile.tokens[t];
        const int8_t* x = job.x + uint64_t(token) * job.x_row_bytes + x_offset;
        hn::Vec<decltype(di8)> xv[4];
        for (uint32_t j = 0; j < 4; ++j) xv[j] = hn::LoadU(di8, x + 64 * j);
        const auto xs = hn::LoadU(df, job.lane_scales + uint64_t(token) * job.groups * 8 + o / 4);
        for (uint32_t r = 0; r < kRows; ++r) {
            auto acc = hn::Zero(di32), acc2 = hn::Zero(di32);
            for (uint32_t j = 0; j < 4; ++j) DotQuads<kDepth>(di32, q[r][j], xv[j], acc, acc2);
            facc[r][t] =
                hn::MulAdd(hn::ConvertTo(df, hn::Add(acc, acc2)), hn::Mul(ws[r], xs), facc[r][t]);
        }
    }
}

// Rows [r, r + kRows) for the tile's tokens. scratch: per row, its scale (padded_groups floats)
// and zero point (as many) of each group at this depth.
template <uint32_t kDepth, uint32_t kTokens, uint32_t kRows>
void RowPass(const SlicedJob& job, const TokenTile& tile, const uint32_t* rows, bool stream,
             float* scratch) {
    const hn::CappedTag<float, kChunkBytes / 4> df;
    const hn::RebindToUnsigned<decltype(df)> du32;
    const size_t nf = hn::Lanes(df);
    const float depth_step = 1.0f / static_cast<float>(1u << (2 * (kDepth - 1)));
    const float zero_mul = static_cast<float>(1u << (2 * (kDepth - 1)));
    const uint32_t groups = job.groups, row_bytes = groups * 32;
    const float* weight_scales[kRows];
    const float* weight_zeros[kRows];
    const uint8_t* planes[kRows][4] = {};
    hn::Vec<decltype(df)> zacc[kRows][kTokens], facc[kRows][kTokens];
    for (uint32_t i = 0; i < kRows; ++i) {
        const uint32_t r = rows[i];
        float* s_out = scratch + 2 * i * job.padded_groups;
        float* z_out = s_out + job.padded_groups;
        weight_scales[i] = s_out;
        weight_zeros[i] = z_out;
        // Weight scales s_k of the row's groups, and each token's zero-point term
        // sum_g s_k z'_k xs sum(x).
        const uint32_t* sz = job.scale_zero + uint64_t(r) * groups;
        for (uint32_t t = 0; t < kTokens; ++t) zacc[i][t] = facc[i][t] = hn::Zero(df);
        for (uint32_t g = 0; g < groups; g += nf) {
            // The row's last words through a zero-padded copy (no read past the array; a masked
            // load may read the whole vector on SSE4).
            uint32_t last[hn::MaxLanes(du32)] = {};
            const uint32_t* words = sz + g;
            if (groups - g < nf) words = std::copy(sz + g, sz + groups, last) - (groups - g);
            const auto v = hn::LoadU(du32, words);
            const auto s = hn::Mul(HalfToFloat(du32, hn::And(v, hn::Set(du32, 0xFFFFu))),
                                   hn::Set(df, depth_step));
            const auto z =
                hn::Sub(hn::Mul(HalfToFloat(du32, hn::ShiftRight<16>(v)), hn::Set(df, zero_mul)),
                        hn::Set(df, 0.5f));
            hn::StoreU(s, df, s_out + g);
            hn::StoreU(z, df, z_out + g);
            const auto sz_product = hn::Mul(s, z);
            for (uint32_t t = 0; t < kTokens; ++t)
                zacc[i][t] =
                    hn::MulAdd(sz_product,
                               hn::LoadU(df, job.scaled_sums +
                                                 uint64_t(tile.tokens[t]) * job.padded_groups + g),
                               zacc[i][t]);
        }
        for (uint32_t e = 0; e < kDepth; ++e)
            planes[i][e] = job.planes[e] + uint64_t(r) * row_bytes;
    }
    // Streaming from memory, the planes are prefetched kPrefetchBytes ahead, into the next rows
    // but not past a plane's end.
    int64_t prefetch_end = 0;  // chunks at o < prefetch_end prefetch
    if (stream) {
        uint32_t last_row = 0;
        for (uint32_t i = 0; i < kRows; ++i) last_row = std::max(last_row, rows[i]);
        prefetch_end = int64_t(job.rows - last_row) * row_bytes - int64_t(kPrefetchBytes);
    }
    uint32_t o = 0;
    for (; o + kChunkBytes <= row_bytes; o += kChunkBytes) {
        if (int64_t(o) < prefetch_end)
            for (uint32_t i = 0; i < kRows; ++i)
                for (uint32_t e = 0; e < kDepth; ++e)
                    hwy::Prefetch(planes[i][e] + o + kPrefetchBytes);
        RowChunk<kDepth, kTokens, kChunkBytes, kRows>(job, tile, planes, o, weight_scales, facc);
    }
    float tail[kRows][kTokens] = {};
    if constexpr (kChunkBytes == 64) {
        if (o < row_bytes) {  // an odd number of groups: the last one alone
            const hn::CappedTag<float, 8> dh;
            hn::Vec<decltype(dh)> hacc[kRows][kTokens];
            for (uint32_t i = 0; i < kRows; ++i)
                for (uint32_t t = 0; t < kTokens; ++t) hacc[i][t] = hn::Zero(dh);
            RowChunk<kDepth, kTokens, 32, kRows>(job, tile, planes, o, weight_scales, hacc);
            for (uint32_t i = 0; i < kRows; ++i)
                for (uint32_t t = 0; t < kTokens; ++t)
                    tail[i][t] = hn::GetLane(hn::SumOfLanes(dh, hacc[i][t]));
        }
    }
    for (uint32_t i = 0; i < kRows; ++i)
        for (uint32_t t = 0; t < kTokens; ++t)
            job.y[uint64_t(tile.tokens[t]) * job.rows + rows[i]] =
                hn::GetLane(hn::SumOfLanes(df, hn::Sub(facc[i][t], zacc[i][t]))) + tail[i][t] +
                OutlierTerms(job, tile.tokens[t], planes[i], kDepth, weight_scales[i],
                             weight_zeros[i]);
}

// Rows [r0, r1) for the tile's tokens, kFullTileRows at a time for a full tile.
template <uint32_t kDepth, uint32_t kTokens>
void TileRows(const SlicedJob& job, const TokenTile& tile, uint32_t r0, uint32_t r1, bool stream,
              float* scratch) {
    constexpr uint32_t kRows = kTokens == kMaxTileTokens ? kFullTileRows : 1;
    uint32_t r = r0;
    // One token at depth 1 is compute-bound (2-bit codes are cheap to read, costly to expand):
    // rows r and r + half share the activation loads, two long sequential streams (1.1-1.2x).
    if constexpr (kTokens == 1 && kDepth == 1 && kFullTileRows == 2) {
        const uint32_t half = (r1 - r0) / 2;
        for (uint32_t i = 0; i < half; ++i) {
            const uint32_t rows[2] = {r0 + i, r0 + half + i};
            RowPass<kDepth, kTokens, 2>(job, tile, rows, stream, scratch);
        }
        r = r0 + 2 * half;
    }
    if constexpr (kRows > 1)
        for (; r + kRows <= r1; r += kRows) {
            const uint32_t rows[2] = {r, r + 1};
            RowPass<kDepth, kTokens, kRows>(job, tile, rows, stream, scratch);
        }
    for (; r < r1; ++r) RowPass<kDepth, kTokens, 1>(job, tile, &r, stream, scratch);
}

template <uint32_t kDepth>
void TileRowsOfDepth(const SlicedJob& job, const TokenTile& tile, uint32_t r0, uint32_t r1,
                     bool stream, float* scratch) {
    switch (tile.count) {
        case 1:
            return TileRows<kDepth, 1>(job, tile, r0, r1, stream, scratch);
        case 2:
            return TileRows<kDepth, 2>(job, tile, r0, r1, stream, scratch);
        case 3:
            return TileRows<kDepth, 3>(job, tile, r0, r1, stream, scratch);
        default:
            return TileRows<kDepth, 4>(job, tile, r0, r1, stream, scratch);
    }
}

// Rows [r0, r1) for every tile, a block of rows at a time so that the block's planes stay in
// cache while the tiles of every depth read them.
void SlicedRows(const SlicedJob& job, uint32_t r0, uint32_t r1) {
    constexpr uint32_t kRowsPerBlock = 16;
    std::vector<float> scratch(2 * kFullTileRows * job.padded_groups);
    // One tile needs no blocks: the whole range in one pass keeps the row streams long.
    const uint32_t block = job.tiles.size() == 1 ? r1 - r0 : kRowsPerBlock;
    for (uint32_t b = r0; b < r1; b += block) {
        const uint32_t e = std::min(r1, b + block);
        for (const TokenTile& tile : job.tiles) {
            // The block's first tile reads its rows from memory; the others find them in cache.
            const bool stream = &tile == &job.tiles.front();
            switch (tile.depth) {
                case 1:
                    TileRowsOfDepth<1>(job, tile, b, e, stream, scratch.data());
                    break;
                case 2:
                    TileRowsOfDepth<2>(job, tile, b, e, stream, scratch.data());
                    break;
                case 3:
                    TileRowsOfDepth<3>(job, tile, b, e, stream, scratch.data());
                    break;
                default:
                    TileRowsOfDepth<4>(job, tile, b, e, stream, scratch.data());
                    break;
            }
        }
    }
}

#endif  // HWY_TARGET == HWY_SCALAR
#undef MQ_HAVE_MADDUBS

}  // namespace mq::cpu::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mq::cpu {
namespace detail {
HWY_EXPORT(SlicedRows);
}  // namespace detail

void check_sliced_matmul_args(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                              std::span<const uint8_t> depths) {
    if (x.cols != w.cols())
        fail("sliced product: activations have {} columns, the matrix {}", x.cols, w.cols());
    if (depths.size() != x.rows)
        fail("sliced product: {} depths for {} tokens", depths.size(), x.rows);
    const uint32_t groups = w.groups_per_row();
    if (x.groups != groups || x.row_bytes != (groups + 1) / 2 * 256 ||
        x.q.size() != uint64_t(x.rows) * x.row_bytes ||
        x.scales.size() != uint64_t(x.rows) * groups * kScalesPerGroup ||
        x.sums.size() != x.scales.size() || x.outlier_begin.size() != uint64_t(x.rows) + 1 ||
        x.outlier_begin.back() != x.outlier_cols.size() ||
        x.outlier_values.size() != x.outlier_cols.size() ||
        std::any_of(x.outlier_cols.begin(), x.outlier_cols.end(),
                    [&](uint32_t c) { return c >= x.cols; }) ||
        !std::is_sorted(x.outlier_begin.begin(), x.outlier_begin.end()))
        fail(
            "sliced product: the activations of {} tokens x {} columns are not laid out as "
            "quantize_activations makes them",
            x.rows, x.cols);
    for (size_t t = 0; t < depths.size(); ++t)
        if (depths[t] < 1 || depths[t] > quant::kSlices)
            fail("sliced product: token {} asks for depth {} (1..{})", t, depths[t],
                 quant::kSlices);
}

namespace {

// Per token and weight group of 128: the sum over its activation scales of scale * sum of codes
// (padded_groups floats a token, zeros past groups).
std::vector<float> scaled_group_sums(const QuantizedActivations& x, uint32_t padded_groups) {
    std::vector<float> sums(uint64_t(x.rows) * padded_groups, 0.0f);
    for (uint32_t t = 0; t < x.rows; ++t)
        for (uint32_t g = 0; g < x.groups; ++g) {
            const uint64_t i = (uint64_t(t) * x.groups + g) * kScalesPerGroup;
            float s = 0;
            for (uint32_t b = 0; b < kScalesPerGroup; ++b)
                s += x.scales[i + b] * static_cast<float>(x.sums[i + b]);
            sums[uint64_t(t) * padded_groups + g] = s;
        }
    return sums;
}

// The job of one product; scaled_sums must outlive it.
detail::SlicedJob make_job(const SlicedProduct& p, const QuantizedActivations& x,
                           const std::vector<float>& scaled_sums, uint32_t padded_groups) {
    detail::SlicedJob job;
    job.rows = p.w->rows();
    job.groups = p.w->groups_per_row();
    for (uint32_t e = 0; e < quant::kSlices; ++e)
        job.planes[e] = reinterpret_cast<const uint8_t*>(p.w->plane(e));
    job.scale_zero = p.w->scale_zero();
    job.x = x.q.data();
    job.x_row_bytes = x.row_bytes;
    job.padded_groups = padded_groups;
    job.y = p.y;
    job.lane_scales = x.scales.data();  // one per i32 lane: 16 columns
    job.scaled_sums = scaled_sums.data();
    job.outlier_begin = x.outlier_begin.data();
    job.outlier_cols = x.outlier_cols.data();
    job.outlier_values = x.outlier_values.data();
    // Tokens grouped by depth, up to kMaxTileTokens per tile.
    for (uint32_t d = 1; d <= quant::kSlices; ++d) {
        detail::TokenTile tile;
        tile.depth = d;
        for (uint32_t t = 0; t < x.rows; ++t) {
            if (p.depths[t] != d) continue;
            tile.tokens[tile.count++] = t;
            if (tile.count == detail::kMaxTileTokens) {
                job.tiles.push_back(tile);
                tile.count = 0;
            }
        }
        if (tile.count) job.tiles.push_back(tile);
    }
    return job;
}

}  // namespace

void sliced_matmuls(std::span<const SlicedProduct> products, const QuantizedActivations& x,
                    ThreadPool& pool) {
    for (const SlicedProduct& p : products) check_sliced_matmul_args(*p.w, x, p.depths);
    if (x.rows == 0 || products.empty()) return;
    const uint32_t padded_groups = (x.groups + 15) / 16 * 16;
    const std::vector<float> scaled_sums = scaled_group_sums(x, padded_groups);
    std::vector<detail::SlicedJob> jobs;
    // Tasks of kRowsPerTask rows, numbered across the products: product i owns tasks
    // [first_task[i], first_task[i + 1]).
    constexpr uint32_t kRowsPerTask = 16;
    std::vector<uint32_t> first_task{0};
    for (const SlicedProduct& p : products) {
        jobs.push_back(make_job(p, x, scaled_sums, padded_groups));
        first_task.push_back(first_task.back() + (p.w->rows() + kRowsPerTask - 1) / kRowsPerTask);
    }
    const auto rows_kernel = HWY_DYNAMIC_DISPATCH(detail::SlicedRows);
    pool.parallel_for(first_task.back(), [&](uint32_t b, uint32_t e) {
        for (size_t i = 0; i < jobs.size(); ++i) {
            const uint32_t tb = std::max(b, first_task[i]), te = std::min(e, first_task[i + 1]);
            if (tb >= te) continue;
            const uint32_t rows = jobs[i].rows;
            rows_kernel(jobs[i], (tb - first_task[i]) * kRowsPerTask,
                        std::min(rows, (te - first_task[i]) * kRowsPerTask));
        }
    });
}

void sliced_matmul(const SlicedMatrixCpu& w, const QuantizedActivations& x,
                   std::span<const uint8_t> depths, float* y, ThreadPool& pool) {
    const SlicedProduct product{&w, depths, y};
    sliced_matmuls(std::span(&product, 1), x, pool);
}

}  // namespace mq::cpu
#endif  // HWY_ONCE
