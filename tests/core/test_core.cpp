#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/half.hpp"

namespace fs = std::filesystem;

TEST_CASE("half conversion round-trips every finite half and rounds to nearest even") {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if (((h >> 10) & 0x1f) == 0x1f) continue;  // inf/nan
        float f = mq::half_to_float(static_cast<uint16_t>(h));
        REQUIRE(mq::float_to_half(f) == (h == 0x8000 ? 0x8000 : h));
    }
    CHECK(mq::half_to_float(mq::float_to_half(1.0f + 1.0f / 2048)) == 1.0f);  // tie to even
    CHECK(mq::half_to_float(mq::float_to_half(65504.0f)) == 65504.0f);
    CHECK(std::isinf(mq::half_to_float(mq::float_to_half(1e6f))));
    CHECK(mq::bf16_to_float(mq::float_to_bf16(3.140625f)) == 3.140625f);
}

TEST_CASE("an atomic file appears only when committed") {
    fs::path dir = fs::temp_directory_path() / "mq_test_atomic";
    fs::create_directories(dir);
    fs::path target = dir / "out.bin";
    fs::remove(target);
    {
        mq::AtomicFile f(target);
        f.write("abc", 3);
        CHECK_FALSE(fs::exists(target));
        // destroyed without commit: an interrupted job leaves nothing behind
    }
    CHECK_FALSE(fs::exists(target));
    CHECK(fs::is_empty(dir));
    {
        mq::AtomicFile f(target);
        f.write("abcd", 4);
        f.commit();
    }
    CHECK(fs::file_size(target) == 4);
    CHECK(mq::read_text_file(target) == "abcd");
    CHECK_THROWS_AS(mq::AtomicFile(dir / "no" / "such" / "dir.bin"), mq::Error);
    fs::remove_all(dir);
}
