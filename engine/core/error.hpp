#pragma once
// The one error type the engine throws: a message a user can act on.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace mq {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown by long jobs (quantize, eval) when their caller cancels them; nothing half-done is left
// on disk.
class Cancelled : public Error {
  public:
    Cancelled() : Error("cancelled") {}
};

// fail("tensor {} has {} dims", name, n): throws mq::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mq
