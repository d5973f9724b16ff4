#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "core/progress.hpp"
#include "core/utf8.hpp"

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

TEST_CASE("text splits into runs of well-formed UTF-8 and of ill-formed bytes, losing nothing") {
    // "a", e-acute, a stray continuation byte, a truncated 3-byte lead, then "z" and a euro sign.
    const std::string text = "a\xC3\xA9\x80\xE2\x82z\xE2\x82\xAC";
    std::vector<std::pair<std::string, bool>> runs;
    mq::for_each_utf8_run(text, [&](std::string_view run, bool ok) { runs.emplace_back(run, ok); });
    REQUIRE(runs.size() == 3);
    CHECK(runs[0] == std::pair<std::string, bool>{"a\xC3\xA9", true});
    CHECK(runs[1] == std::pair<std::string, bool>{"\x80\xE2\x82", false});
    CHECK(runs[2] == std::pair<std::string, bool>{"z\xE2\x82\xAC", true});
    size_t calls = 0;
    mq::for_each_utf8_run("", [&](std::string_view, bool) { ++calls; });
    CHECK(calls == 0);
}

namespace {
// Everything written to stderr while `body` runs.
template <class Body>
std::string capture_stderr(Body body) {
    std::fflush(stderr);
    std::FILE* tmp = std::tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    body();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::rewind(tmp);
    std::string out;
    for (int c; (c = std::fgetc(tmp)) != EOF;) out += static_cast<char>(c);
    std::fclose(tmp);
    return out;
}
}  // namespace

TEST_CASE("a progress bar shows no rate before it can know one, and the time taken at the end") {
    std::string out = capture_stderr([] {
        mq::ProgressBar bar("slicing", 10);
        bar.update(1);  // at once: a rate now would be a division by almost zero
        bar.finish();
    });
    std::istringstream lines(out);
    std::string first, last;
    std::getline(lines, first);
    for (std::string l; std::getline(lines, l);) last = l;
    CHECK(first.find("1/10") != std::string::npos);
    CHECK(first.find("/s") == std::string::npos);
    CHECK(last.find("took") != std::string::npos);
}
