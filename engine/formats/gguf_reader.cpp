// GGUF reader: every count, size and offset is checked against the file size before it is used.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/mapped_bytes.hpp"
#include "formats/utf8.hpp"

namespace mq::gguf {

namespace {

// Smallest encodings, used to refuse counts that cannot fit in what is left of the file
// before anything is allocated for them.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;  // key length, type, one u8
constexpr uint64_t kMinTensorInfoBytes =
    8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset
constexpr uint32_t kMaxAlignment = 1u << 30;

size_t fixed_size(ValueType type) {
    switch (type) {
        case ValueType::UInt8:
        case ValueType::Int8:
        case ValueType::Bool:
            return 1;
        case ValueType::UInt16:
        case ValueType::Int16:
            return 2;
        case ValueType::UInt32:
        case ValueType::Int32:
        case ValueType::Float32:
            return 4;
        case ValueType::UInt64:
        case ValueType::Int64:
        case ValueType::Float64:
            return 8;
        default:
            return 0;
    }
}

bool is_known_value_type(uint32_t t) {
    return t <= static_cast<uint32_t>(ValueType::Float64);
}

// Bounds-checked little-endian reads over the file's bytes.
class Cursor {
  public:
    Cursor(std::span<const std::byte> bytes, const std::string& name)
        : bytes_(bytes), name_(name) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void error_at(uint64_t offset, const std::string& problem) const {
        fail("gguf {}: {} (at byte offset {})", name_, problem, offset);
    }

    void need(uint64_t n, const char* what) const {
        if (n > remaining())
            error_at(pos_, fmt::format("truncated: {} needs {} bytes but only {} remain of {}",
                                       what, n, remaining(), bytes_.size()));
    }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    // A u64 length then that many bytes of valid UTF-8.
    std::string read_string(const char* what) {
        uint64_t start = pos_;
        uint64_t len = read<uint64_t>(what);
        if (len > remaining())
            error_at(start,
                     fmt::format("{} of {} bytes runs past the end of the file ({} bytes left)",
                                 what, len, remaining()));
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
        size_t bad = find_invalid_utf8(s);
        if (bad != std::string::npos)
            error_at(pos_ + bad, fmt::format("{} is not valid UTF-8", what));
        pos_ += len;
        return s;
    }

  private:
    std::span<const std::byte> bytes_;
    const std::string& name_;
    uint64_t pos_ = 0;
};

class MetadataParser {
  public:
    MetadataParser(Cursor& cursor, const std::string& key) : c_(cursor), key_(key) {}

    Value read_value(ValueType type, size_t depth) {
        const uint64_t at = c_.pos();
        switch (type) {
            case ValueType::UInt8:
                return Value::u8(c_.read<uint8_t>("u8 value"));
            case ValueType::Int8:
                return Value::i8(c_.read<int8_t>("i8 value"));
            case ValueType::UInt16:
                return Value::u16(c_.read<uint16_t>("u16 value"));
            case ValueType::Int16:
                return Value::i16(c_.read<int16_t>("i16 value"));
            case ValueType::UInt32:
                return Value::u32(c_.read<uint32_t>("u32 value"));
            case ValueType::Int32:
                return Value::i32(c_.read<int32_t>("i32 value"));
            case ValueType::UInt64:
                return Value::u64(c_.read<uint64_t>("u64 value"));
            case ValueType::Int64:
                return Value::i64(c_.read<int64_t>("i64 value"));
            case ValueType::Float32:
                return Value::f32(c_.read<float>("f32 value"));
            case ValueType::Float64:
                return Value::f64(c_.read<double>("f64 value"));
            case ValueType::Bool: {
                uint8_t b = c_.read<uint8_t>("bool value");
                if (b > 1) fail_here(at, fmt::format("bool value is {}, expected 0 or 1", b));
                return Value::boolean(b != 0);
            }
            case ValueType::String:
                return Value::string(c_.read_string("string value"));
            case ValueType::Array:
                return read_array(depth);
        }
        fail_here(at, "internal: unhandled value type");
    }

    ValueType read_type(const char* what) {
        const uint64_t at = c_.pos();
        uint32_t t = c_.read<uint32_t>(what);
        if (!is_known_value_type(t))
            fail_here(at, fmt::format("unknown {} {} (known: 0..12)", what, t));
        return static_cast<ValueType>(t);
    }

  private:
    [[noreturn]] void fail_here(uint64_t at, const std::string& problem) const {
        c_.error_at(at, fmt::format("key '{}': {}", key_, problem));
    }

    Value read_array(size_t depth) {
        if (depth >= kMaxArrayNesting)
            fail_here(c_.pos(), fmt::format("arrays nested deeper than {}", kMaxArrayNesting));
        ValueType element = read_type("array element type");
        const uint64_t at = c_.pos();
        uint64_t count = c_.read<uint64_t>("array length");
        uint64_t min_item = element == ValueType::String  ? 8
                            : element == ValueType::Array ? 12
                                                          : fixed_size(element);
        if (count > c_.remaining() / min_item)
            fail_here(at, fmt::format("array of {} {} items cannot fit in the {} bytes left", count,
                                      value_type_name(element), c_.remaining()));
        std::vector<Value> items;
        items.reserve(count);
        for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(element, depth + 1));
        return Value::array(element, std::move(items));
    }

    Cursor& c_;
    const std::string& key_;
};

// A tensor info's dimensions and type (the cursor at its dimension count): checks the shape
// against the type's block size and fills t.dims, t.type and t.bytes.
void read_tensor_shape(Cursor& c, TensorInfo& t) {
    const uint64_t dims_at = c.pos();
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
        c.error_at(dims_at, fmt::format("tensor '{}' has {} dimensions (expected 1 to {})", t.name,
                                        n_dims, kMaxDims));
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = c.read<uint64_t>("tensor dimension");
        if (ne > static_cast<uint64_t>(INT64_MAX) ||
            __builtin_mul_overflow(n_elements, ne, &n_elements) ||
            n_elements > static_cast<uint64_t>(INT64_MAX))
            c.error_at(dims_at, fmt::format("tensor '{}' has an impossible shape (dimension {} "
                                            "is {}; the element count overflows)",
                                            t.name, d, ne));
        t.dims.push_back(ne);
    }
    const uint64_t type_at = c.pos();
    uint32_t type_id = c.read<uint32_t>("tensor type");
    const TypeTraits* traits = type_traits(type_id);
    if (!traits)
        c.error_at(type_at, fmt::format("tensor '{}' has unknown ggml type {}", t.name, type_id));
    t.type = static_cast<TensorType>(type_id);
    if (t.dims[0] % traits->block_size != 0)
        c.error_at(dims_at, fmt::format("tensor '{}' of type {} has row length {}, not a "
                                        "multiple of its block size {}",
                                        t.name, traits->name, t.dims[0], traits->block_size));
    uint64_t blocks = n_elements / traits->block_size;
    if (__builtin_mul_overflow(blocks, uint64_t{traits->block_bytes}, &t.bytes))
        c.error_at(dims_at, fmt::format("tensor '{}' size overflows 64 bits", t.name));
}

// Every tensor's data lies inside the file's data section, aligned, and no two overlap.
void check_tensor_data(std::span<const TensorInfo> tensors, uint64_t data_offset,
                       uint64_t file_size, uint32_t alignment, const std::string& name) {
    const uint64_t data_size = data_offset <= file_size ? file_size - data_offset : 0;
    for (const TensorInfo& t : tensors) {
        if (t.offset % alignment != 0)
            fail("gguf {}: tensor '{}' data offset {} is not a multiple of the alignment {}", name,
                 t.name, t.offset, alignment);
        if (t.offset > data_size || t.bytes > data_size - t.offset)
            fail(
                "gguf {}: tensor '{}' data ({} bytes at byte offset {}) runs past the end of the "
                "file ({} bytes)",
                name, t.name, t.bytes, data_offset + t.offset, file_size);
    }
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
        const TensorInfo& prev = tensors[order[i - 1]];
        const TensorInfo& cur = tensors[order[i]];
        if (prev.bytes > 0 && cur.bytes > 0 && prev.offset + prev.bytes > cur.offset)
            fail("gguf {}: tensors '{}' and '{}' overlap (data at byte offsets {} and {})", name,
                 prev.name, cur.name, data_offset + prev.offset, data_offset + cur.offset);
    }
}

}  // namespace

uint64_t TensorInfo::n_elements() const {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;  // overflow is refused when the file is read
    return n;
}

std::string TensorInfo::shape_string() const {
    return fmt::format("[{}]", fmt::join(dims, ", "));
}

File File::open(const std::filesystem::path& path) {
    File f;
    f.storage_ = MappedBytes::map(path);
    f.name_ = path.string();
    f.parse();
    return f;
}

File File::from_bytes(std::span<const std::byte> bytes, std::string name) {
    File f;
    f.storage_ = MappedBytes::copy_of(bytes);
    f.name_ = std::move(name);
    f.parse();
    return f;
}

uint64_t File::file_size() const {
    return storage_->size();
}

void File::parse() {
    const std::span<const std::byte> bytes = storage_->bytes();
    Cursor c(bytes, name_);

    // Header.
    if (bytes.size() >= 4) {
        uint32_t magic;
        std::memcpy(&magic, bytes.data(), 4);
        if (magic != kMagic)
            c.error_at(0, fmt::format("not a GGUF file: bad magic 0x{:08x} (expected \"GGUF\")",
                                      __builtin_bswap32(magic)));
    }
    c.read<uint32_t>("magic");
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        uint32_t swapped = __builtin_bswap32(version_);
        if (swapped == 2 || swapped == 3) c.error_at(4, "big-endian GGUF files are not supported");
        c.error_at(4, fmt::format("unsupported GGUF version {} (supported: 2 and 3)", version_));
    }
    const uint64_t n_tensors_at = c.pos();
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv_at = c.pos();
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    if (n_kv > c.remaining() / kMinKeyValueBytes)
        c.error_at(n_kv_at, fmt::format("metadata count {} cannot fit in the {} bytes left", n_kv,
                                        c.remaining()));
    if (n_tensors > c.remaining() / kMinTensorInfoBytes)
        c.error_at(n_tensors_at, fmt::format("tensor count {} cannot fit in the {} bytes left",
                                             n_tensors, c.remaining()));

    // Metadata.
    metadata_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t key_at = c.pos();
        std::string key = c.read_string("metadata key");
        if (key.empty()) c.error_at(key_at, fmt::format("metadata key {} is empty", i));
        if (metadata_index_.count(key)) c.error_at(key_at, fmt::format("duplicate key '{}'", key));
        MetadataParser parser(c, key);
        ValueType type = parser.read_type("value type");
        Value value = parser.read_value(type, 0);
        metadata_index_.emplace(key, metadata_.size());
        metadata_.emplace_back(std::move(key), std::move(value));
    }

    if (const Value* a = find("general.alignment")) {
        uint64_t alignment = a->as_uint(fmt::format("gguf {}: key 'general.alignment'", name_));
        if (alignment == 0 || alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0)
            fail("gguf {}: key 'general.alignment' is {}, expected a power of two up to {}", name_,
                 alignment, kMaxAlignment);
        alignment_ = static_cast<uint32_t>(alignment);
    }

    // Tensor infos.
    tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t info_at = c.pos();
        TensorInfo t;
        t.name = c.read_string("tensor name");
        if (tensor_index_.count(t.name))
            c.error_at(info_at, fmt::format("duplicate tensor '{}'", t.name));
        read_tensor_shape(c, t);
        t.offset = c.read<uint64_t>("tensor data offset");
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    // Data section: starts at the next multiple of the alignment.
    const uint64_t infos_end = c.pos();
    data_offset_ = (infos_end + alignment_ - 1) / alignment_ * alignment_;
    check_tensor_data(tensors_, data_offset_, bytes.size(), alignment_, name_);
}

const Value* File::find(std::string_view key) const {
    auto it = metadata_index_.find(std::string(key));
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
std::string key_label(const std::string& file, std::string_view key) {
    return fmt::format("gguf {}: key '{}'", file, key);
}
}  // namespace

#define MQ_GGUF_GETTERS(Type, Name, Method)                                 \
    std::optional<Type> File::find_##Name(std::string_view key) const {     \
        const Value* v = find(key);                                         \
        if (!v) return std::nullopt;                                        \
        return v->Method(key_label(name_, key));                            \
    }                                                                       \
    Type File::get_##Name(std::string_view key) const {                     \
        auto v = find_##Name(key);                                          \
        if (!v) fail("gguf {}: key '{}' is missing", name_, key);           \
        return *v;                                                          \
    }                                                                       \
    Type File::get_##Name##_or(std::string_view key, Type fallback) const { \
        auto v = find_##Name(key);                                          \
        return v ? *v : fallback;                                           \
    }

MQ_GGUF_GETTERS(std::string, string, as_string)
MQ_GGUF_GETTERS(uint64_t, uint, as_uint)
MQ_GGUF_GETTERS(int64_t, int, as_int)
MQ_GGUF_GETTERS(double, float, as_float)
MQ_GGUF_GETTERS(bool, bool, as_bool)
#undef MQ_GGUF_GETTERS

namespace {
const Array& array_at(const File& f, std::string_view key) {
    const Value* v = f.find(key);
    if (!v) fail("gguf {}: key '{}' is missing", f.name(), key);
    return v->as_array(key_label(f.name(), key));
}
}  // namespace

size_t File::get_array_size(std::string_view key) const {
    return array_at(*this, key).items.size();
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
    const Array& a = array_at(*this, key);
    if (a.element_type != ValueType::String)
        fail("gguf {}: key '{}' is an array of {}, expected strings", name_, key,
             value_type_name(a.element_type));
    std::vector<std::string> out;
    out.reserve(a.items.size());
    for (const Value& v : a.items) out.push_back(std::get<std::string>(v.data));
    return out;
}

std::vector<float> File::get_float_array(std::string_view key) const {
    const Array& a = array_at(*this, key);
    if (!is_integer(a.element_type) && !is_float(a.element_type))
        fail("gguf {}: key '{}' is an array of {}, expected numbers", name_, key,
             value_type_name(a.element_type));
    std::vector<float> out;
    out.reserve(a.items.size());
    for (const Value& v : a.items) out.push_back(static_cast<float>(v.as_float()));
    return out;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
    const Array& a = array_at(*this, key);
    if (!is_integer(a.element_type))
        fail("gguf {}: key '{}' is an array of {}, expected integers", name_, key,
             value_type_name(a.element_type));
    std::vector<int64_t> out;
    out.reserve(a.items.size());
    std::string label = key_label(name_, key) + " item";
    for (const Value& v : a.items) out.push_back(v.as_int(label));
    return out;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo& tensor) const {
    // Only infos of this file are valid here: their ranges were checked when it was read.
    const TensorInfo* own = find_tensor(tensor.name);
    if (!own || own->offset != tensor.offset || own->bytes != tensor.bytes)
        fail("gguf {}: tensor '{}' does not belong to this file", name_, tensor.name);
    return storage_->bytes().subspan(data_offset_ + own->offset, own->bytes);
}

void File::drop_pages(const TensorInfo& tensor) const {
    storage_->drop_pages(tensor_data(tensor));
}

std::vector<float> File::tensor_to_f32(const TensorInfo& tensor) const {
    if (!can_dequantize(tensor.type))
        fail("gguf {}: tensor '{}' has type {}, which cannot be converted to f32", name_,
             tensor.name, tensor_type_name(tensor.type));
    std::vector<float> out(tensor.n_elements());
    dequantize(tensor.type, tensor_data(tensor), out);
    return out;
}

}  // namespace mq::gguf
