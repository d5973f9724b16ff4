#include "formats/safetensors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "formats/mapped_bytes.hpp"

namespace mq::safetensors {

namespace {

struct DTypeEntry {
    DType dtype;
    const char* name;
    size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::Bool, "BOOL", 1}, {DType::U8, "U8", 1},           {DType::I8, "I8", 1},
    {DType::U16, "U16", 2},   {DType::I16, "I16", 2},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::U32, "U32", 4},         {DType::I32, "I32", 4},
    {DType::F32, "F32", 4},   {DType::U64, "U64", 8},         {DType::I64, "I64", 8},
    {DType::F64, "F64", 8},   {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeEntry* find_dtype(std::string_view name) {
    for (const auto& e : kDTypes)
        if (name == e.name) return &e;
    return nullptr;
}

template <typename T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <typename T>
void convert(const std::byte* p, std::span<float> out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(load<T>(p + i * sizeof(T)));
}

// Where the tensor data lies: after the 8-byte length and the JSON header, to the end of the file.
struct DataSection {
    uint64_t start, size;
};

// The JSON header (a JSON object), with the byte offset of a syntax error.
nlohmann::json parse_header(const std::byte* bytes, uint64_t len, const std::string& name) {
    const char* text = reinterpret_cast<const char*>(bytes);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(text, text + len);
    } catch (const nlohmann::json::exception& e) {
        uint64_t at = 8;
        if (const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e))
            at += pe->byte > 0 ? pe->byte - 1 : 0;
        fail("safetensors {}: the header is not valid JSON (at byte offset {}): {}", name, at,
             e.what());
    }
    if (!header.is_object())
        fail("safetensors {}: the header (byte offset 8) is not a JSON object", name);
    return header;
}

// "__metadata__": an object of strings.
void read_metadata(const nlohmann::json& entry, const std::string& name,
                   std::map<std::string, std::string>& metadata) {
    if (!entry.is_object()) fail("safetensors {}: '__metadata__' is not an object", name);
    for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("safetensors {}: metadata key '{}' is not a string", name, k);
        metadata[k] = v.get<std::string>();
    }
}

// One tensor's entry: dtype, shape and data offsets, checked against each other and the data
// section.
TensorInfo read_tensor_entry(const std::string& key, const nlohmann::json& entry,
                             const DataSection& data, const std::string& name) {
    auto bad = [&](const std::string& problem) {
        fail("safetensors {}: tensor '{}': {}", name, key, problem);
    };
    if (!entry.is_object()) bad("entry is not an object");
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string()) bad("missing or non-string 'dtype'");
    if (shape_it == entry.end() || !shape_it->is_array()) bad("missing or non-array 'shape'");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2)
        bad("'data_offsets' must be an array of two integers");
    const DTypeEntry* dt = find_dtype(dtype_it->get_ref<const std::string&>());
    if (!dt) bad(fmt::format("unknown dtype '{}'", dtype_it->get_ref<const std::string&>()));

    TensorInfo t;
    t.name = key;
    t.dtype = dt->dtype;
    uint64_t n = 1;
    for (const auto& d : *shape_it) {
        if (!d.is_number_unsigned())
            bad(fmt::format("shape entry {} is not a non-negative integer", d.dump()));
        uint64_t v = d.get<uint64_t>();
        if (__builtin_mul_overflow(n, v, &n)) bad("element count overflows 64 bits");
        t.shape.push_back(v);
    }
    uint64_t expected;
    if (__builtin_mul_overflow(n, uint64_t{dt->size}, &expected))
        bad("byte size overflows 64 bits");
    const auto& b = (*offsets_it)[0];
    const auto& e = (*offsets_it)[1];
    if (!b.is_number_unsigned() || !e.is_number_unsigned())
        bad("'data_offsets' must be non-negative integers");
    uint64_t begin = b.get<uint64_t>(), end = e.get<uint64_t>();
    if (begin > end) bad(fmt::format("data_offsets [{}, {}] are reversed", begin, end));
    if (end > data.size)
        bad(
            fmt::format("data [{}, {}) runs past the end of the data section ({} bytes, file "
                        "byte offset {})",
                        begin, end, data.size, data.start));
    if (end - begin != expected)
        bad(fmt::format("{} {} of shape [{}] needs {} bytes but data_offsets give {}", n, dt->name,
                        fmt::join(t.shape, ", "), expected, end - begin));
    t.offset = data.start + begin;
    t.bytes = end - begin;
    return t;
}

}  // namespace

const char* dtype_name(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e.name;
    return "unknown";
}

size_t dtype_size(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e.size;
    return 0;
}

uint64_t TensorInfo::n_elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;  // overflow is refused when the file is read
    return n;
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

void File::parse() {
    const uint64_t size = storage_->size();
    if (size < 8)
        fail("safetensors {}: truncated: {} bytes, too short for the 8-byte header length", name_,
             size);
    uint64_t header_len;
    std::memcpy(&header_len, storage_->data(), 8);
    if (header_len > kMaxHeaderBytes)
        fail("safetensors {}: header length {} at byte offset 0 exceeds the {} byte limit", name_,
             header_len, kMaxHeaderBytes);
    if (header_len > size - 8)
        fail("safetensors {}: header of {} bytes runs past the end of the file ({} bytes)", name_,
             header_len, size);
    const DataSection data{8 + header_len, size - 8 - header_len};

    const nlohmann::json header = parse_header(storage_->data() + 8, header_len, name_);
    for (const auto& item : header.items()) {
        if (item.key() == "__metadata__")
            read_metadata(item.value(), name_, metadata_);
        else
            tensors_.push_back(read_tensor_entry(item.key(), item.value(), data, name_));
    }
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.offset < b.offset; });
    for (size_t i = 1; i < tensors_.size(); ++i) {
        const TensorInfo& p = tensors_[i - 1];
        const TensorInfo& c = tensors_[i];
        if (p.bytes > 0 && c.bytes > 0 && p.offset + p.bytes > c.offset)
            fail("safetensors {}: tensors '{}' and '{}' overlap (byte offsets {} and {})", name_,
                 p.name, c.name, p.offset, c.offset);
    }
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo& tensor) const {
    const TensorInfo* own = find_tensor(tensor.name);
    if (!own || own->offset != tensor.offset || own->bytes != tensor.bytes)
        fail("safetensors {}: tensor '{}' does not belong to this file", name_, tensor.name);
    return storage_->bytes().subspan(own->offset, own->bytes);
}

std::optional<gguf::TensorType> ggml_type(DType dtype) {
    switch (dtype) {
        case DType::F32:
            return gguf::TensorType::F32;
        case DType::F16:
            return gguf::TensorType::F16;
        case DType::BF16:
            return gguf::TensorType::BF16;
        case DType::F64:
            return gguf::TensorType::F64;
        case DType::I8:
            return gguf::TensorType::I8;
        case DType::I16:
            return gguf::TensorType::I16;
        case DType::I32:
            return gguf::TensorType::I32;
        case DType::I64:
            return gguf::TensorType::I64;
        default:
            return std::nullopt;
    }
}

void File::drop_pages(const TensorInfo& tensor) const {
    storage_->drop_pages(tensor_data(tensor));
}

std::vector<float> File::tensor_to_f32(const TensorInfo& tensor) const {
    std::span<const std::byte> data = tensor_data(tensor);
    std::vector<float> out(tensor.n_elements());
    if (auto type = ggml_type(tensor.dtype); type && gguf::can_dequantize(*type)) {
        gguf::dequantize(*type, data, out);  // the float and signed types GGUF shares
        return out;
    }
    const std::byte* p = data.data();
    switch (tensor.dtype) {
        case DType::Bool:
        case DType::U8:
            convert<uint8_t>(p, out);
            break;
        case DType::U16:
            convert<uint16_t>(p, out);
            break;
        case DType::U32:
            convert<uint32_t>(p, out);
            break;
        case DType::U64:
            convert<uint64_t>(p, out);
            break;
        case DType::I64:
            convert<int64_t>(p, out);
            break;
        default:
            fail("safetensors {}: tensor '{}' has dtype {}, which cannot be converted to f32",
                 name_, tensor.name, dtype_name(tensor.dtype));
    }
    return out;
}

std::vector<std::byte> to_bytes(const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const TensorToWrite& t : tensors) {
        uint64_t n = 1;
        for (uint64_t d : t.shape) n *= d;
        if (n * dtype_size(t.dtype) != t.data.size())
            fail("safetensors writer: tensor '{}' needs {} bytes, got {}", t.name,
                 n * dtype_size(t.dtype), t.data.size());
        if (header.contains(t.name)) fail("safetensors writer: tensor '{}' added twice", t.name);
        header[t.name] = {{"dtype", dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.data.size()}}};
        offset += t.data.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
    std::vector<std::byte> out(8 + text.size());
    uint64_t len = text.size();
    std::memcpy(out.data(), &len, 8);
    std::memcpy(out.data() + 8, text.data(), text.size());
    for (const TensorToWrite& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
    return out;
}

void write(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
           const std::map<std::string, std::string>& metadata) {
    write_file_atomically(path, to_bytes(tensors, metadata));
}

}  // namespace mq::safetensors
