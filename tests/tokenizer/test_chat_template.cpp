#include <doctest/doctest.h>
TEST_CASE("tok: placeholder chat") {
    CHECK(true);
}
