#pragma once
// Tests that cannot run report a visible skip, and fixtures that are not in the repository.
//
// A test that prints kSkipMarker is counted by ctest as skipped, not passed
// (SKIP_REGULAR_EXPRESSION, set for every suite by mq_test_suite).
//
// Fixtures too large or not redistributable enough to commit (the real Llama 2 tokenizer.model)
// live in $MOBIQUANT_FIXTURES, by default ../shared/fixtures beside the checkout. A test whose
// fixture is missing is skipped; with MOBIQUANT_REQUIRE_FIXTURES=1 (a machine that must have
// them) it fails instead.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mq::test {

inline constexpr const char* kSkipMarker = "MQ_TEST_SKIPPED";

// Reports the current test as skipped; the caller returns right after.
inline void skip_test(const std::string& reason) {
    MESSAGE(kSkipMarker << ": " << reason);
    std::printf("%s: %s\n", kSkipMarker, reason.c_str());
    std::fflush(stdout);
}

inline std::filesystem::path fixtures_dir() {
    if (const char* env = std::getenv("MOBIQUANT_FIXTURES"); env && *env) return env;
    return std::filesystem::path(MQ_SOURCE_DIR) / ".." / "shared" / "fixtures";
}

inline bool fixtures_required() {
    const char* env = std::getenv("MOBIQUANT_REQUIRE_FIXTURES");
    return env && std::string_view(env) == "1";
}

// The fixture's path, or nullopt after reporting a skip (or a failure when fixtures are
// required): `auto p = fixture("x"); if (!p) return;`
inline std::optional<std::filesystem::path> fixture(const std::string& name) {
    const std::filesystem::path p = fixtures_dir() / name;
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p;
    const std::string why = "fixture " + p.string() + " is missing (set MOBIQUANT_FIXTURES)";
    if (fixtures_required())
        FAIL_CHECK(why << " and MOBIQUANT_REQUIRE_FIXTURES=1");
    else
        skip_test(why);
    return std::nullopt;
}

}  // namespace mq::test
