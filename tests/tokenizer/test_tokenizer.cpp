#include <doctest/doctest.h>
TEST_CASE("tok: placeholder") {
    CHECK(true);
}
