// GGUF writer -> reader round trips, dequantization against hand-computed values, alignment.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/half.hpp"
#include "formats/gguf.hpp"

namespace fs = std::filesystem;
using namespace mq::gguf;

namespace {

template <typename T>
std::vector<std::byte> raw_bytes(const std::vector<T>& v) {
    auto s = std::as_bytes(std::span<const T>(v));
    return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("gguf: every metadata value type survives a write/read round trip") {
    Writer w;
    w.set("t.u8", Value::u8(250));
    w.set("t.i8", Value::i8(-120));
    w.set("t.u16", Value::u16(65000));
    w.set("t.i16", Value::i16(-32000));
    w.set("t.u32", Value::u32(4000000000u));
    w.set("t.i32", Value::i32(-2000000000));
    w.set("t.u64", Value::u64(18000000000000000000ull));
    w.set("t.i64", Value::i64(-9000000000000000000ll));
    w.set("t.f32", Value::f32(0.15625f));
    w.set("t.f64", Value::f64(1e-300));
    w.set("t.bool", Value::boolean(true));
    w.set("t.string", Value::string("héllo ✓ 世界"));
    w.set_string_array("t.strings", {"a", "", "ü"});
    std::vector<float> floats{1.5f, -2.25f};
    w.set_f32_array("t.floats", floats);
    std::vector<int32_t> ints{-1, 7, 1 << 30};
    w.set_i32_array("t.ints", ints);
    w.set("t.nested", Value::array(ValueType::Array,
                                   {Value::array(ValueType::UInt8, {Value::u8(1), Value::u8(2)}),
                                    Value::array(ValueType::String, {Value::string("x")}),
                                    Value::array(ValueType::Bool, {})}));
    w.set("t.u8", Value::u8(251));  // replaces in place

    File f = File::from_bytes(w.to_bytes(), "roundtrip");
    CHECK(f.version() == 3);
    REQUIRE(f.metadata().size() == 16);
    CHECK(f.metadata()[0].first == "t.u8");
    CHECK(f.get_uint("t.u8") == 251);
    CHECK(f.find("t.u8")->type == ValueType::UInt8);
    CHECK(f.get_int("t.i8") == -120);
    CHECK(f.get_uint("t.u16") == 65000);
    CHECK(f.get_int("t.i16") == -32000);
    CHECK(f.get_uint("t.u32") == 4000000000u);
    CHECK(f.get_int("t.i32") == -2000000000);
    CHECK(f.get_uint("t.u64") == 18000000000000000000ull);
    CHECK(f.get_int("t.i64") == -9000000000000000000ll);
    CHECK(f.get_float("t.f32") == 0.15625);
    CHECK(f.find("t.f32")->type == ValueType::Float32);
    CHECK(f.get_float("t.f64") == 1e-300);
    CHECK(f.get_bool("t.bool"));
    CHECK(f.get_string("t.string") == "héllo ✓ 世界");
    CHECK(f.get_string_array("t.strings") == std::vector<std::string>{"a", "", "ü"});
    CHECK(f.get_float_array("t.floats") == floats);
    CHECK(f.get_int_array("t.ints") == std::vector<int64_t>{-1, 7, 1 << 30});
    const Array& nested = f.find("t.nested")->as_array();
    REQUIRE(nested.items.size() == 3);
    CHECK(nested.element_type == ValueType::Array);
    CHECK(nested.items[0].as_array().element_type == ValueType::UInt8);
    CHECK(nested.items[0].as_array().items[1].as_uint() == 2);
    CHECK(nested.items[1].as_array().items[0].as_string() == "x");
    CHECK(nested.items[2].as_array().items.empty());
    CHECK(nested.items[2].as_array().element_type == ValueType::Bool);

    // Typed getters name the key when it is missing or of the wrong type.
    CHECK_THROWS_WITH_AS(f.get_string("t.u32"), doctest::Contains("'t.u32' is a u32"), mq::Error);
    CHECK_THROWS_WITH_AS(f.get_uint("nope"), doctest::Contains("'nope' is missing"), mq::Error);
    CHECK_THROWS_WITH_AS(f.get_uint("t.i8"), doctest::Contains("non-negative"), mq::Error);
    CHECK_THROWS_WITH_AS(f.get_int("t.u64"), doctest::Contains("too large"), mq::Error);
    CHECK_THROWS_WITH_AS(f.get_string_array("t.ints"), doctest::Contains("array of i32"),
                         mq::Error);
    CHECK(f.get_uint_or("nope", 7) == 7);
    CHECK(f.get_string_or("t.string", "x") == "héllo ✓ 世界");
    CHECK_FALSE(f.find_float("nope").has_value());
    CHECK(f.get_float("t.u8") == 251.0);  // integers read as floats
}

TEST_CASE("gguf: tensors of every supported type round-trip, aligned") {
    for (uint32_t alignment : {32u, 64u, 8u}) {
        CAPTURE(alignment);
        Writer w;
        if (alignment != kDefaultAlignment) w.set_alignment(alignment);
        std::vector<float> f32{1, -2, 3.5f, 0, 7, 8};
        w.add_tensor_f32("f32", {3, 2}, f32);
        std::vector<uint16_t> f16{mq::float_to_half(1.5f), mq::float_to_half(-0.25f)};
        w.add_tensor("f16", TensorType::F16, {2}, raw_bytes(f16));
        std::vector<uint16_t> bf16{mq::float_to_bf16(3.0f), mq::float_to_bf16(-1.0f)};
        w.add_tensor("bf16", TensorType::BF16, {1, 2}, raw_bytes(bf16));
        std::vector<int8_t> i8{-128, 127, 5};
        w.add_tensor("i8", TensorType::I8, {3}, raw_bytes(i8));
        std::vector<int16_t> i16{-30000, 2};
        w.add_tensor("i16", TensorType::I16, {2}, raw_bytes(i16));
        std::vector<int32_t> i32{0x7fffffff, -5, 9, 10};
        w.add_tensor("i32", TensorType::I32, {2, 2}, raw_bytes(i32));

        // Q8_0 block by hand: d = 0.5, qs = 0, 1, -1, 2, -2, ...
        std::vector<std::byte> q8(34);
        uint16_t d = mq::float_to_half(0.5f);
        std::memcpy(q8.data(), &d, 2);
        for (int j = 0; j < 32; ++j) {
            int8_t q = static_cast<int8_t>((j % 2 ? 1 : -1) * ((j + 1) / 2));
            std::memcpy(q8.data() + 2 + j, &q, 1);
        }
        w.add_tensor("q8_0", TensorType::Q8_0, {32}, q8);
        // Q4_0 block by hand: d = 2, byte j = (lo = j, hi = 15 - j).
        std::vector<std::byte> q4(18);
        d = mq::float_to_half(2.0f);
        std::memcpy(q4.data(), &d, 2);
        for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<std::byte>(j | ((15 - j) << 4));
        w.add_tensor("q4_0", TensorType::Q4_0, {32}, q4);

        File f = File::from_bytes(w.to_bytes());
        CHECK(f.alignment() == alignment);
        CHECK(f.data_offset() % alignment == 0);
        REQUIRE(f.tensors().size() == 8);
        for (const TensorInfo& t : f.tensors()) {
            CHECK(t.offset % alignment == 0);
            CHECK(f.tensor_data(t).size() == t.bytes);
        }
        const TensorInfo* t = f.find_tensor("f32");
        REQUIRE(t);
        CHECK(t->dims == std::vector<uint64_t>{3, 2});
        CHECK(t->type == TensorType::F32);
        CHECK(f.tensor_to_f32(*t) == f32);
        CHECK(f.tensor_to_f32(*f.find_tensor("f16")) == std::vector<float>{1.5f, -0.25f});
        CHECK(f.tensor_to_f32(*f.find_tensor("bf16")) == std::vector<float>{3.0f, -1.0f});
        CHECK(f.tensor_to_f32(*f.find_tensor("i8")) == std::vector<float>{-128, 127, 5});
        CHECK(f.tensor_to_f32(*f.find_tensor("i16")) == std::vector<float>{-30000, 2});
        auto raw = f.tensor_data(*f.find_tensor("i32"));
        REQUIRE(raw.size() == 16);
        int32_t first;
        std::memcpy(&first, raw.data(), 4);
        CHECK(first == 0x7fffffff);  // raw codes come back bit-exact
        std::vector<float> q8f = f.tensor_to_f32(*f.find_tensor("q8_0"));
        REQUIRE(q8f.size() == 32);
        for (int j = 0; j < 32; ++j) CHECK(q8f[j] == 0.5f * (j % 2 ? 1 : -1) * ((j + 1) / 2));
        std::vector<float> q4f = f.tensor_to_f32(*f.find_tensor("q4_0"));
        REQUIRE(q4f.size() == 32);
        for (int j = 0; j < 16; ++j) {
            CHECK(q4f[j] == 2.0f * (j - 8));
            CHECK(q4f[j + 16] == 2.0f * (15 - j - 8));
        }
        CHECK(f.find_tensor("missing") == nullptr);
    }
}

TEST_CASE("gguf: reference quantizers match hand-computed Q8_0 and Q4_0 values") {
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[i] = std::sin(0.37f * i) * (i < 32 ? 1.0f : 10.0f);
    for (auto [type, bytes] : {std::pair{TensorType::Q8_0, quantize_q8_0(x)},
                               std::pair{TensorType::Q4_0, quantize_q4_0(x)}}) {
        CAPTURE(tensor_type_name(type));
        std::vector<float> y(64);
        dequantize(type, bytes, y);
        for (int b = 0; b < 2; ++b) {
            float amax = 0;
            for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
            // Q8_0: d = amax/127, error <= d/2. Q4_0: d = amax/8 and codes -8..7, so the side
            // opposite the largest value saturates one step early: error <= d.
            float bound = type == TensorType::Q8_0 ? amax / 127 / 2 : amax / 8;
            for (int i = b * 32; i < b * 32 + 32; ++i)
                CHECK(std::fabs(y[i] - x[i]) <= bound * 1.01f);
        }
    }
    // Exactly representable input: Q8_0 with max 127 is lossless.
    std::vector<float> exact(32);
    for (int i = 0; i < 32; ++i) exact[i] = static_cast<float>(i * 4 - 64 + (i == 31 ? 3 : 0));
    exact[0] = -127;
    std::vector<float> back(32);
    dequantize(TensorType::Q8_0, quantize_q8_0(exact), back);
    CHECK(back == exact);
}

TEST_CASE("gguf: the writer refuses what the reader would refuse, and writes atomically") {
    Writer w;
    CHECK_THROWS_WITH_AS(w.add_tensor_f32("x", {3}, std::vector<float>(2)),
                         doctest::Contains("needs 12 bytes, got 8"), mq::Error);
    CHECK_THROWS_WITH_AS(w.add_tensor("q", TensorType::Q8_0, {16}, std::vector<std::byte>(17)),
                         doctest::Contains("not a multiple of the q8_0 block size 32"), mq::Error);
    CHECK_THROWS_WITH_AS(w.set("k", Value::array(ValueType::UInt8, {Value::i32(1)})),
                         doctest::Contains("array of u8 holding a i32"), mq::Error);
    CHECK_THROWS_WITH_AS(w.set("k", Value::string("\xff")), doctest::Contains("UTF-8"), mq::Error);
    w.add_tensor_f32("a", {1}, std::vector<float>{1});
    CHECK_THROWS_WITH_AS(w.add_tensor_f32("a", {1}, std::vector<float>{1}),
                         doctest::Contains("added twice"), mq::Error);

    fs::path dir = fs::temp_directory_path() / ("mq_test_gguf_write_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    w.set_string("general.name", "tiny");
    w.write(dir / "a.gguf");
    CHECK(fs::exists(dir / "a.gguf"));
    size_t entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
    CHECK(entries == 1);  // no temporary file left behind
    File f = File::open(dir / "a.gguf");
    CHECK(f.get_string("general.name") == "tiny");
    CHECK(f.tensor_to_f32(f.tensors().at(0)) == std::vector<float>{1});
    fs::remove_all(dir);
}

TEST_CASE("gguf: version 2 files read like version 3, other versions are refused") {
    Writer w;
    w.set_string("general.name", "v2");
    w.add_tensor_f32("t", {2}, std::vector<float>{1, 2});
    std::vector<std::byte> bytes = w.to_bytes();
    bytes[4] = std::byte{2};  // v2 differs from v3 only in allowing big-endian files
    File f = File::from_bytes(bytes, "v2.gguf");
    CHECK(f.version() == 2);
    CHECK(f.get_string("general.name") == "v2");
    CHECK(f.tensor_to_f32(f.tensors().at(0)) == std::vector<float>{1, 2});
    bytes[4] = std::byte{4};
    CHECK_THROWS_WITH_AS(File::from_bytes(bytes, "v4.gguf"),
                         doctest::Contains("gguf v4.gguf: unsupported GGUF version 4 (supported: 2 "
                                           "and 3) (at byte offset 4)"),
                         mq::Error);
}

namespace {

// Per-element statements of each block layout (ggml's block_* structs), written independently
// of the loop structure of dequantize().
uint8_t byte_at(const std::vector<std::byte>& b, size_t i) {
    return static_cast<uint8_t>(b[i]);
}
float half_at(const std::vector<std::byte>& b, size_t i) {
    return mq::half_to_float(static_cast<uint16_t>(byte_at(b, i) | (byte_at(b, i + 1) << 8)));
}
uint8_t nibble(const std::vector<std::byte>& b, size_t i, bool high) {
    return high ? byte_at(b, i) >> 4 : byte_at(b, i) & 0xF;
}

float expected_value(TensorType type, const std::vector<std::byte>& blk, int e) {
    switch (type) {
        case TensorType::Q4_1:  // d, m, qs[16]: element e < 16 low nibble of qs[e], else high
            return half_at(blk, 0) * nibble(blk, 4 + e % 16, e >= 16) + half_at(blk, 2);
        case TensorType::Q5_0:
        case TensorType::Q5_1: {  // [d, (m,)] u32 qh, qs[16]: bit e of qh is the fifth bit
            size_t qh = type == TensorType::Q5_0 ? 2 : 4;
            uint32_t bits = byte_at(blk, qh) | byte_at(blk, qh + 1) << 8 |
                            byte_at(blk, qh + 2) << 16 | uint32_t{byte_at(blk, qh + 3)} << 24;
            int q = nibble(blk, qh + 4 + e % 16, e >= 16) | ((bits >> e) & 1) << 4;
            return type == TensorType::Q5_0 ? half_at(blk, 0) * (q - 16)
                                            : half_at(blk, 0) * q + half_at(blk, 2);
        }
        case TensorType::Q4_K:
        case TensorType::Q5_K: {  // 8 sub-blocks j of 32 with 6-bit scale/min
            int j = e / 32, l = e % 32;
            auto s = [&](int i) { return byte_at(blk, 4 + i); };
            int scale = j < 4 ? s(j) & 63 : (s(j + 4) & 0xF) | (s(j - 4) >> 6) << 4;
            int min = j < 4 ? s(j + 4) & 63 : (s(j + 4) >> 4) | (s(j) >> 6) << 4;
            size_t qs = type == TensorType::Q4_K ? 16 : 48;
            int q = nibble(blk, qs + (j / 2) * 32 + l, j % 2 == 1);
            if (type == TensorType::Q5_K) q |= ((byte_at(blk, 16 + l) >> j) & 1) << 4;
            return half_at(blk, 0) * scale * q - half_at(blk, 2) * min;
        }
        case TensorType::Q6_K: {  // halves of 128, quarters of 32: ql nibble + 2 bits of qh
            int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
            int low = nibble(blk, half * 64 + l + (quarter % 2) * 32, quarter >= 2);
            int high = (byte_at(blk, 128 + half * 32 + l) >> (2 * quarter)) & 3;
            auto scale = static_cast<int8_t>(byte_at(blk, 192 + half * 8 + l / 16 + 2 * quarter));
            return half_at(blk, 208) * scale * ((low | high << 4) - 32);
        }
        default:
            return 0;
    }
}

}  // namespace

TEST_CASE("gguf: Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K dequantize as their block layouts say") {
    uint32_t state = 12345;
    auto next_byte = [&] {
        state = state * 1664525u + 1013904223u;
        return static_cast<std::byte>(state >> 24);
    };
    auto put_half = [](std::vector<std::byte>& b, size_t at, float v) {
        uint16_t h = mq::float_to_half(v);
        std::memcpy(b.data() + at, &h, 2);
    };
    for (TensorType type : {TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                            TensorType::Q5_K, TensorType::Q6_K}) {
        CAPTURE(tensor_type_name(type));
        REQUIRE(can_dequantize(type));
        const TypeTraits& traits = type_traits(type);
        const int blocks = 3;
        std::vector<std::byte> data(traits.block_bytes * blocks);
        for (auto& b : data) b = next_byte();
        for (int k = 0; k < blocks; ++k) {  // finite scales (random halves may be NaN)
            size_t base = k * traits.block_bytes;
            if (type == TensorType::Q6_K) {
                put_half(data, base + 208, 0.01f * (k + 1));
            } else {
                put_half(data, base, 0.5f + k);
                if (type != TensorType::Q5_0) put_half(data, base + 2, -0.25f * (k + 1));
            }
        }
        std::vector<float> out(traits.block_size * blocks);
        dequantize(type, data, out);
        for (int k = 0; k < blocks; ++k) {
            std::vector<std::byte> blk(data.begin() + k * traits.block_bytes,
                                       data.begin() + (k + 1) * traits.block_bytes);
            for (uint32_t e = 0; e < traits.block_size; ++e)
                REQUIRE(out[k * traits.block_size + e] ==
                        doctest::Approx(expected_value(type, blk, e)).epsilon(1e-6));
        }
    }
}

TEST_CASE("gguf: a tensor written from a source reads back like one given as bytes") {
    std::vector<float> values(1000);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * float(i);
    Writer writer;
    writer.add_tensor_f32("first", {10, 100}, values);
    writer.add_tensor_from("streamed", TensorType::F32, {10, 100},
                           [&](const Writer::ByteSink& sink) {
                               // In uneven pieces, as a spill file read in chunks would give.
                               sink(values.data(), 333 * sizeof(float));
                               sink(values.data() + 333, 667 * sizeof(float));
                           });
    File f = File::from_bytes(writer.to_bytes());
    CHECK(f.tensor_to_f32(*f.find_tensor("streamed")) == values);
    CHECK(f.tensor_to_f32(*f.find_tensor("first")) == values);

    Writer short_source;
    short_source.add_tensor_from("short", TensorType::F32, {4}, [&](const Writer::ByteSink& sink) {
        sink(values.data(), 3 * sizeof(float));
    });
    CHECK_THROWS_WITH_AS(short_source.to_bytes(), doctest::Contains("gave 12 of its 16 bytes"),
                         mq::Error);
    Writer long_source;
    long_source.add_tensor_from("long", TensorType::F32, {2}, [&](const Writer::ByteSink& sink) {
        sink(values.data(), 3 * sizeof(float));
    });
    CHECK_THROWS_AS(long_source.to_bytes(), mq::Error);
}
