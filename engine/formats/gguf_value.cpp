// GGUF metadata values: type names, typed access and display.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "formats/gguf.hpp"

namespace mq::gguf {

const char* value_type_name(ValueType type) {
    switch (type) {
        case ValueType::UInt8:
            return "u8";
        case ValueType::Int8:
            return "i8";
        case ValueType::UInt16:
            return "u16";
        case ValueType::Int16:
            return "i16";
        case ValueType::UInt32:
            return "u32";
        case ValueType::Int32:
            return "i32";
        case ValueType::Float32:
            return "f32";
        case ValueType::Bool:
            return "bool";
        case ValueType::String:
            return "string";
        case ValueType::Array:
            return "array";
        case ValueType::UInt64:
            return "u64";
        case ValueType::Int64:
            return "i64";
        case ValueType::Float64:
            return "f64";
    }
    return "unknown";
}

bool is_integer(ValueType type) {
    switch (type) {
        case ValueType::UInt8:
        case ValueType::Int8:
        case ValueType::UInt16:
        case ValueType::Int16:
        case ValueType::UInt32:
        case ValueType::Int32:
        case ValueType::UInt64:
        case ValueType::Int64:
            return true;
        default:
            return false;
    }
}

bool is_float(ValueType type) {
    return type == ValueType::Float32 || type == ValueType::Float64;
}

namespace {

[[noreturn]] void wrong_type(std::string_view what, ValueType type, const char* expected) {
    fail("{} is a {}, expected {}", what, value_type_name(type), expected);
}

template <typename T, typename F>
Value make_array(ValueType element_type, std::span<const T> items, F make) {
    std::vector<Value> values;
    values.reserve(items.size());
    for (const T& item : items) values.push_back(make(item));
    return Value::array(element_type, std::move(values));
}

}  // namespace

Value Value::string_array(const std::vector<std::string>& items) {
    return make_array(ValueType::String, std::span<const std::string>(items),
                      [](const std::string& s) { return Value::string(s); });
}
Value Value::f32_array(std::span<const float> items) {
    return make_array(ValueType::Float32, items, [](float v) { return Value::f32(v); });
}
Value Value::i32_array(std::span<const int32_t> items) {
    return make_array(ValueType::Int32, items, [](int32_t v) { return Value::i32(v); });
}
Value Value::u32_array(std::span<const uint32_t> items) {
    return make_array(ValueType::UInt32, items, [](uint32_t v) { return Value::u32(v); });
}

uint64_t Value::as_uint(std::string_view what) const {
    if (!is_integer()) wrong_type(what, type, "an integer");
    if (const auto* u = std::get_if<uint64_t>(&data)) return *u;
    int64_t i = std::get<int64_t>(data);
    if (i < 0) fail("{} is {}, expected a non-negative integer", what, i);
    return static_cast<uint64_t>(i);
}

int64_t Value::as_int(std::string_view what) const {
    if (!is_integer()) wrong_type(what, type, "an integer");
    if (const auto* i = std::get_if<int64_t>(&data)) return *i;
    uint64_t u = std::get<uint64_t>(data);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("{} is {}, too large for a signed 64-bit integer", what, u);
    return static_cast<int64_t>(u);
}

double Value::as_float(std::string_view what) const {
    if (const auto* d = std::get_if<double>(&data)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&data)) return static_cast<double>(*i);
    wrong_type(what, type, "a number");
}

bool Value::as_bool(std::string_view what) const {
    if (type != ValueType::Bool) wrong_type(what, type, "a bool");
    return std::get<bool>(data);
}

const std::string& Value::as_string(std::string_view what) const {
    if (type != ValueType::String) wrong_type(what, type, "a string");
    return std::get<std::string>(data);
}

const Array& Value::as_array(std::string_view what) const {
    if (type != ValueType::Array) wrong_type(what, type, "an array");
    return std::get<Array>(data);
}

std::string Value::to_display(size_t max_items) const {
    switch (type) {
        case ValueType::String: {
            const std::string& s = std::get<std::string>(data);
            constexpr size_t kMaxChars = 120;
            if (s.size() <= kMaxChars) return fmt::format("\"{}\"", s);
            size_t cut = kMaxChars;  // do not cut a UTF-8 sequence in half
            while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
            return fmt::format("\"{}...\" ({} bytes)", s.substr(0, cut), s.size());
        }
        case ValueType::Bool:
            return std::get<bool>(data) ? "true" : "false";
        case ValueType::Float32:
        case ValueType::Float64:
            return fmt::format("{}", std::get<double>(data));
        case ValueType::Array: {
            const Array& a = std::get<Array>(data);
            std::string out =
                fmt::format("[{} x {}", a.items.size(), value_type_name(a.element_type));
            for (size_t i = 0; i < a.items.size() && i < max_items; ++i)
                out += (i == 0 ? ": " : ", ") + a.items[i].to_display(max_items);
            if (a.items.size() > max_items) out += ", ...";
            return out + "]";
        }
        default:
            if (const auto* u = std::get_if<uint64_t>(&data)) return fmt::format("{}", *u);
            return fmt::format("{}", std::get<int64_t>(data));
    }
}

}  // namespace mq::gguf
