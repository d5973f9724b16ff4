// GGUF v3 writer. Everything it writes is checked so that the reader accepts it.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/utf8.hpp"

namespace mq::gguf {

namespace {

using Sink = std::function<void(const void*, size_t)>;

template <typename T>
void put(const Sink& sink, T v) {
    sink(&v, sizeof v);
}

void put_string(const Sink& sink, const std::string& s) {
    put<uint64_t>(sink, s.size());
    sink(s.data(), s.size());
}

void check_string(const std::string& s, std::string_view what) {
    if (!is_valid_utf8(s)) fail("gguf writer: {} is not valid UTF-8", what);
}

// The value's payload must match its declared type (Value is a plain struct, so a caller could
// pair them wrongly) and arrays must be homogeneous.
void check_value(const Value& v, std::string_view key, size_t depth) {
    bool ok = false;
    switch (v.type) {
        case ValueType::UInt8:
        case ValueType::UInt16:
        case ValueType::UInt32:
        case ValueType::UInt64:
            ok = std::holds_alternative<uint64_t>(v.data);
            break;
        case ValueType::Int8:
        case ValueType::Int16:
        case ValueType::Int32:
        case ValueType::Int64:
            ok = std::holds_alternative<int64_t>(v.data);
            break;
        case ValueType::Float32:
        case ValueType::Float64:
            ok = std::holds_alternative<double>(v.data);
            break;
        case ValueType::Bool:
            ok = std::holds_alternative<bool>(v.data);
            break;
        case ValueType::String:
            ok = std::holds_alternative<std::string>(v.data);
            if (ok) check_string(std::get<std::string>(v.data), fmt::format("key '{}' value", key));
            break;
        case ValueType::Array:
            ok = std::holds_alternative<Array>(v.data);
            if (ok) {
                if (depth + 1 >= kMaxArrayNesting)
                    fail("gguf writer: key '{}' nests arrays deeper than {}", key,
                         kMaxArrayNesting);
                const Array& a = std::get<Array>(v.data);
                for (const Value& item : a.items) {
                    if (item.type != a.element_type)
                        fail("gguf writer: key '{}' is an array of {} holding a {}", key,
                             value_type_name(a.element_type), value_type_name(item.type));
                    check_value(item, key, depth + 1);
                }
            }
            break;
    }
    if (!ok)
        fail("gguf writer: key '{}' holds a value that is not a {}", key, value_type_name(v.type));
}

void put_value(const Sink& sink, const Value& v) {
    switch (v.type) {
        case ValueType::UInt8:
            put<uint8_t>(sink, std::get<uint64_t>(v.data));
            break;
        case ValueType::Int8:
            put<int8_t>(sink, std::get<int64_t>(v.data));
            break;
        case ValueType::UInt16:
            put<uint16_t>(sink, std::get<uint64_t>(v.data));
            break;
        case ValueType::Int16:
            put<int16_t>(sink, std::get<int64_t>(v.data));
            break;
        case ValueType::UInt32:
            put<uint32_t>(sink, std::get<uint64_t>(v.data));
            break;
        case ValueType::Int32:
            put<int32_t>(sink, std::get<int64_t>(v.data));
            break;
        case ValueType::UInt64:
            put<uint64_t>(sink, std::get<uint64_t>(v.data));
            break;
        case ValueType::Int64:
            put<int64_t>(sink, std::get<int64_t>(v.data));
            break;
        case ValueType::Float32:
            put<float>(sink, static_cast<float>(std::get<double>(v.data)));
            break;
        case ValueType::Float64:
            put<double>(sink, std::get<double>(v.data));
            break;
        case ValueType::Bool:
            put<uint8_t>(sink, std::get<bool>(v.data) ? 1 : 0);
            break;
        case ValueType::String:
            put_string(sink, std::get<std::string>(v.data));
            break;
        case ValueType::Array: {
            const Array& a = std::get<Array>(v.data);
            put<uint32_t>(sink, static_cast<uint32_t>(a.element_type));
            put<uint64_t>(sink, a.items.size());
            for (const Value& item : a.items) put_value(sink, item);
            break;
        }
    }
}

uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

}  // namespace

Writer::Writer() = default;

void Writer::set(std::string key, Value value) {
    if (key.empty()) fail("gguf writer: empty metadata key");
    check_string(key, fmt::format("key '{}'", key));
    check_value(value, key, 0);
    auto it = std::find_if(metadata_.begin(), metadata_.end(),
                           [&](const auto& kv) { return kv.first == key; });
    if (it != metadata_.end())
        it->second = std::move(value);
    else
        metadata_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_alignment(uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        fail("gguf writer: alignment {} is not a power of two", alignment);
    alignment_ = alignment;
    set_u32("general.alignment", alignment);
}

TensorInfo Writer::checked_info(std::string name, TensorType type,
                                std::vector<uint64_t> dims) const {
    check_string(name, fmt::format("tensor name '{}'", name));
    if (std::any_of(tensors_.begin(), tensors_.end(),
                    [&](const PendingTensor& t) { return t.info.name == name; }))
        fail("gguf writer: tensor '{}' added twice", name);
    if (dims.empty() || dims.size() > kMaxDims)
        fail("gguf writer: tensor '{}' has {} dimensions (expected 1 to {})", name, dims.size(),
             kMaxDims);
    TensorInfo info;
    info.name = std::move(name);
    info.type = type;
    info.dims = std::move(dims);
    uint64_t n = 1;
    for (uint64_t d : info.dims)
        if (__builtin_mul_overflow(n, d, &n))
            fail("gguf writer: tensor '{}' shape overflows", info.name);
    if (info.dims[0] % type_traits(type).block_size != 0)
        fail("gguf writer: tensor '{}' row length {} is not a multiple of the {} block size {}",
             info.name, info.dims[0], tensor_type_name(type), type_traits(type).block_size);
    info.bytes = tensor_bytes(type, n);
    return info;
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                        std::span<const std::byte> data) {
    PendingTensor t;
    t.info = checked_info(std::move(name), type, std::move(dims));
    if (data.size() != t.info.bytes)
        fail("gguf writer: tensor '{}' {} {} needs {} bytes, got {}", t.info.name,
             t.info.shape_string(), tensor_type_name(type), t.info.bytes, data.size());
    t.data = data;
    tensors_.push_back(std::move(t));
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                        std::vector<std::byte> data) {
    auto owned = std::make_shared<std::vector<std::byte>>(std::move(data));
    add_tensor(std::move(name), type, std::move(dims), std::span<const std::byte>(*owned));
    tensors_.back().owned = std::move(owned);
}

void Writer::add_tensor_from(std::string name, TensorType type, std::vector<uint64_t> dims,
                             TensorSource source) {
    PendingTensor t;
    t.info = checked_info(std::move(name), type, std::move(dims));
    if (!source) fail("gguf writer: tensor '{}' has no source", t.info.name);
    t.source = std::move(source);
    tensors_.push_back(std::move(t));
}

void Writer::add_tensor_f32(std::string name, std::vector<uint64_t> dims,
                            std::span<const float> data) {
    auto bytes = std::as_bytes(data);
    add_tensor(std::move(name), TensorType::F32, std::move(dims),
               std::vector<std::byte>(bytes.begin(), bytes.end()));
}

void Writer::emit(const Sink& raw_sink,
                  const std::function<void(uint64_t, uint64_t)>& progress) const {
    uint64_t pos = 0;
    Sink sink = [&](const void* p, size_t n) {
        raw_sink(p, n);
        pos += n;
    };
    static const std::byte zeros[256] = {};
    auto pad = [&] {
        while (pos % alignment_)
            sink(zeros, std::min<uint64_t>(sizeof zeros, alignment_ - pos % alignment_));
    };

    put<uint32_t>(sink, kMagic);
    put<uint32_t>(sink, 3);
    put<uint64_t>(sink, tensors_.size());
    put<uint64_t>(sink, metadata_.size());
    for (const auto& [key, value] : metadata_) {
        put_string(sink, key);
        put<uint32_t>(sink, static_cast<uint32_t>(value.type));
        put_value(sink, value);
    }
    uint64_t offset = 0;
    for (const PendingTensor& t : tensors_) {
        put_string(sink, t.info.name);
        put<uint32_t>(sink, static_cast<uint32_t>(t.info.dims.size()));
        for (uint64_t d : t.info.dims) put<uint64_t>(sink, d);
        put<uint32_t>(sink, static_cast<uint32_t>(t.info.type));
        put<uint64_t>(sink, offset);
        offset = align_up(offset + t.info.bytes, alignment_);
    }
    pad();
    uint64_t total = 0, done = 0;
    for (const PendingTensor& t : tensors_) total += t.info.bytes;
    for (const PendingTensor& t : tensors_) {
        if (t.source) {
            uint64_t given = 0;
            t.source([&](const void* p, size_t n) {
                given += n;
                if (given > t.info.bytes)
                    fail("gguf writer: tensor '{}' source gave more than its {} bytes", t.info.name,
                         t.info.bytes);
                sink(p, n);
            });
            if (given != t.info.bytes)
                fail("gguf writer: tensor '{}' source gave {} of its {} bytes", t.info.name, given,
                     t.info.bytes);
        } else {
            sink(t.data.data(), t.data.size());
        }
        pad();
        done += t.info.bytes;
        if (progress) progress(done, total);
    }
}

void Writer::write(const std::filesystem::path& path,
                   const std::function<void(uint64_t, uint64_t)>& progress) const {
    AtomicFile file(path);
    emit([&](const void* p, size_t n) { file.write(p, n); }, progress);
    file.commit();
}

std::vector<std::byte> Writer::to_bytes() const {
    std::vector<std::byte> out;
    emit([&](const void* p, size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out.insert(out.end(), b, b + n);
    });
    return out;
}

}  // namespace mq::gguf
