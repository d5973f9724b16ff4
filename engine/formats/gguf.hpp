#pragma once
// GGUF (v2/v3) reader and writer.
//
// The reader memory-maps the file and validates every count, size and offset against the file
// size before use: a truncated, corrupt or hostile file gives an mq::Error that names the problem
// and its byte offset or key, never a crash or an out-of-bounds read. Metadata is parsed eagerly
// into Values; tensor data stays in the mapping and is read through tensor_data()/tensor_to_f32().
//
// Layout reminder: header (magic "GGUF", u32 version, u64 tensor count, u64 metadata count),
// metadata key/values, tensor infos (name, n_dims, dims with ne[0] the fastest-varying, ggml
// type, offset relative to the data section), padding to general.alignment (default 32), data.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace mq {
class MappedBytes;  // formats/mapped_bytes.hpp
}

namespace mq::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr size_t kMaxDims = 4;          // GGML_MAX_DIMS
inline constexpr size_t kMaxArrayNesting = 8;  // arrays of arrays deeper than this are refused

enum class ValueType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

const char* value_type_name(ValueType type);  // "u8", "i32", "f32", "string", "array", ...
bool is_integer(ValueType type);
bool is_float(ValueType type);

// One metadata value. Scalars keep their GGUF type; integers are stored widened (unsigned types
// in a uint64_t, signed in an int64_t), floats in a double. Arrays hold Values of one element
// type (arrays of arrays are allowed, each inner array with its own element type).
struct Value;
struct Array {
    ValueType element_type = ValueType::UInt8;
    std::vector<Value> items;
};

struct Value {
    ValueType type = ValueType::UInt8;
    std::variant<uint64_t, int64_t, double, bool, std::string, Array> data = uint64_t{0};

    // Constructors that give the exact GGUF type (used by the writer).
    static Value u8(uint8_t v) { return {ValueType::UInt8, uint64_t{v}}; }
    static Value i8(int8_t v) { return {ValueType::Int8, int64_t{v}}; }
    static Value u16(uint16_t v) { return {ValueType::UInt16, uint64_t{v}}; }
    static Value i16(int16_t v) { return {ValueType::Int16, int64_t{v}}; }
    static Value u32(uint32_t v) { return {ValueType::UInt32, uint64_t{v}}; }
    static Value i32(int32_t v) { return {ValueType::Int32, int64_t{v}}; }
    static Value u64(uint64_t v) { return {ValueType::UInt64, v}; }
    static Value i64(int64_t v) { return {ValueType::Int64, v}; }
    static Value f32(float v) { return {ValueType::Float32, double{v}}; }
    static Value f64(double v) { return {ValueType::Float64, v}; }
    static Value boolean(bool v) { return {ValueType::Bool, v}; }
    static Value string(std::string v) { return {ValueType::String, std::move(v)}; }
    // All items must have element_type (checked by the writer).
    static Value array(ValueType element_type, std::vector<Value> items) {
        return {ValueType::Array, Array{element_type, std::move(items)}};
    }
    static Value string_array(const std::vector<std::string>& items);
    static Value f32_array(std::span<const float> items);
    static Value i32_array(std::span<const int32_t> items);
    static Value u32_array(std::span<const uint32_t> items);

    bool is_array() const { return type == ValueType::Array; }
    bool is_string() const { return type == ValueType::String; }
    bool is_integer() const { return gguf::is_integer(type); }
    bool is_number() const { return gguf::is_integer(type) || gguf::is_float(type); }

    // Typed access; `what` names the value (usually its key) in the error message.
    uint64_t as_uint(std::string_view what = "value") const;  // any integer type, >= 0
    int64_t as_int(std::string_view what = "value") const;    // any integer type that fits
    double as_float(std::string_view what = "value") const;   // any integer or float type
    bool as_bool(std::string_view what = "value") const;
    const std::string& as_string(std::string_view what = "value") const;
    const Array& as_array(std::string_view what = "value") const;

    // Short human-readable form: scalars in full, strings quoted, long arrays abbreviated as
    // "[n x type: a, b, c, ...]" showing at most max_items items.
    std::string to_display(size_t max_items = 8) const;
};

// ggml tensor types by their on-disk ids. Every id the current ggml defines is known, so `info`
// lists any llama.cpp file; tensor_to_f32 dequantizes the ones named in can_dequantize().
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

struct TypeTraits {
    const char* name;      // "f32", "q8_0", ...
    uint32_t block_size;   // elements per block
    uint32_t block_bytes;  // bytes per block
};
// nullptr for an id ggml does not define.
const TypeTraits* type_traits(uint32_t type_id);
const TypeTraits& type_traits(TensorType type);
const char* tensor_type_name(TensorType type);
// F32 F16 BF16 F64 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K I8 I16 I32
bool can_dequantize(TensorType type);
// Bytes for n_elements of `type`; throws when n_elements is not a whole number of blocks.
uint64_t tensor_bytes(TensorType type, uint64_t n_elements);

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // ne[0] first: ne[0] is the fastest-varying (row length)
    TensorType type = TensorType::F32;
    uint64_t offset = 0;  // relative to the data section (File::data_offset())
    uint64_t bytes = 0;   // size of the data in the file

    uint64_t n_elements() const;
    std::string shape_string() const;  // "[4096, 32000]"
};

class File {
  public:
    // Memory-maps and validates the file. Throws mq::Error naming the path and the problem.
    static File open(const std::filesystem::path& path);
    // Parses a copy of `bytes` (for tests and fuzzing); `name` is used in error messages.
    static File from_bytes(std::span<const std::byte> bytes, std::string name = "<memory>");

    const std::string& name() const { return name_; }  // path or name, for messages
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section
    uint64_t file_size() const;

    // Metadata in file order.
    const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
    const Value* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }

    // Typed getters: throw mq::Error naming the key when it is missing or has the wrong type.
    std::string get_string(std::string_view key) const;
    uint64_t get_uint(std::string_view key) const;  // any integer type, must be >= 0
    int64_t get_int(std::string_view key) const;    // any integer type
    double get_float(std::string_view key) const;   // any numeric type
    bool get_bool(std::string_view key) const;
    // Missing key -> nullopt / fallback; present with the wrong type -> mq::Error.
    std::optional<std::string> find_string(std::string_view key) const;
    std::optional<uint64_t> find_uint(std::string_view key) const;
    std::optional<int64_t> find_int(std::string_view key) const;
    std::optional<double> find_float(std::string_view key) const;
    std::optional<bool> find_bool(std::string_view key) const;
    std::string get_string_or(std::string_view key, std::string fallback) const;
    uint64_t get_uint_or(std::string_view key, uint64_t fallback) const;
    int64_t get_int_or(std::string_view key, int64_t fallback) const;
    double get_float_or(std::string_view key, double fallback) const;
    bool get_bool_or(std::string_view key, bool fallback) const;
    // Arrays: throw when missing, not an array, or of the wrong element type.
    std::vector<std::string> get_string_array(std::string_view key) const;
    std::vector<float> get_float_array(std::string_view key) const;  // any numeric elements
    std::vector<int64_t> get_int_array(std::string_view key) const;  // any integer elements
    size_t get_array_size(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;
    // The tensor's bytes inside the mapping (valid while this File or a copy of it lives).
    std::span<const std::byte> tensor_data(const TensorInfo& tensor) const;
    // Dequantized / converted copy (see can_dequantize); throws for other types.
    std::vector<float> tensor_to_f32(const TensorInfo& tensor) const;
    // Lets the kernel drop the tensor's mapped pages (MappedBytes::drop_pages).
    void drop_pages(const TensorInfo& tensor) const;

  private:
    File() = default;
    void parse();

    std::shared_ptr<const MappedBytes> storage_;  // the mapping or an owned copy
    std::string name_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, Value>> metadata_;
    std::unordered_map<std::string, size_t> metadata_index_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// Decodes n_elements of `type` from `data` (which must hold tensor_bytes(type, n) bytes).
void dequantize(TensorType type, std::span<const std::byte> data, std::span<float> out);
// Reference quantizers (ggml's round-to-nearest): n must be a multiple of 32.
std::vector<std::byte> quantize_q8_0(std::span<const float> values);
std::vector<std::byte> quantize_q4_0(std::span<const float> values);

// Builds a GGUF v3 file. Metadata keeps insertion order (setting a key again replaces its value
// in place). Tensor data is laid out in insertion order, each tensor aligned.
class Writer {
  public:
    Writer();

    void set(std::string key, Value value);
    void set_string(std::string key, std::string v) { set(std::move(key), Value::string(v)); }
    void set_u32(std::string key, uint32_t v) { set(std::move(key), Value::u32(v)); }
    void set_i32(std::string key, int32_t v) { set(std::move(key), Value::i32(v)); }
    void set_u64(std::string key, uint64_t v) { set(std::move(key), Value::u64(v)); }
    void set_f32(std::string key, float v) { set(std::move(key), Value::f32(v)); }
    void set_bool(std::string key, bool v) { set(std::move(key), Value::boolean(v)); }
    void set_string_array(std::string key, const std::vector<std::string>& v) {
        set(std::move(key), Value::string_array(v));
    }
    void set_f32_array(std::string key, std::span<const float> v) {
        set(std::move(key), Value::f32_array(v));
    }
    void set_i32_array(std::string key, std::span<const int32_t> v) {
        set(std::move(key), Value::i32_array(v));
    }
    // Sets general.alignment (a power of two) and aligns the data with it.
    void set_alignment(uint32_t alignment);

    // dims with ne[0] first. The bytes are borrowed: they must stay alive until write().
    void add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                    std::span<const std::byte> data);
    // Same, but the writer keeps the bytes.
    void add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                    std::vector<std::byte> data);
    // Convenience: an F32 tensor from floats (copied).
    void add_tensor_f32(std::string name, std::vector<uint64_t> dims, std::span<const float> data);
    // Streaming: the bytes come from `source`, called once when the file is written, which must
    // pass exactly the tensor's size to the sink it is given (checked). Lets a job write tensors
    // that never sit in memory all at once (read back from a spill file, copied from a mapping).
    using ByteSink = std::function<void(const void*, size_t)>;
    using TensorSource = std::function<void(const ByteSink&)>;
    void add_tensor_from(std::string name, TensorType type, std::vector<uint64_t> dims,
                         TensorSource source);

    // Writes through mq::AtomicFile: the file appears complete or not at all. progress(done,
    // total) is called after each tensor with the tensor bytes written so far.
    void write(const std::filesystem::path& path,
               const std::function<void(uint64_t, uint64_t)>& progress = {}) const;
    // The whole file in memory (tests, fuzz seeds).
    std::vector<std::byte> to_bytes() const;

  private:
    struct PendingTensor {
        TensorInfo info;
        std::span<const std::byte> data;
        std::shared_ptr<std::vector<std::byte>> owned;
        TensorSource source;  // set for add_tensor_from
    };
    void emit(const std::function<void(const void*, size_t)>& sink,
              const std::function<void(uint64_t, uint64_t)>& progress = {}) const;
    TensorInfo checked_info(std::string name, TensorType type, std::vector<uint64_t> dims) const;

    std::vector<std::pair<std::string, Value>> metadata_;
    std::vector<PendingTensor> tensors_;
    uint32_t alignment_ = kDefaultAlignment;
};

}  // namespace mq::gguf
