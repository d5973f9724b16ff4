#pragma once
// Safetensors reader (memory-mapped).
//
// Layout: u64 little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
// then the data; offsets are relative to the end of the header. Every entry is validated: known
// dtype, non-negative shape, offsets inside the file, size = elements x dtype size, no overlap.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/gguf.hpp"

namespace mq {
class MappedBytes;
}

namespace mq::safetensors {

inline constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

enum class DType {
    Bool,
    U8,
    I8,
    U16,
    I16,
    F16,
    BF16,
    U32,
    I32,
    F32,
    U64,
    I64,
    F64,
    F8_E4M3,
    F8_E5M2
};

const char* dtype_name(DType dtype);  // "F32", "BF16", ... as in the header
size_t dtype_size(DType dtype);       // bytes per element
// The ggml type with the same encoding, or nullopt (unsigned, bool and F8 types).
std::optional<gguf::TensorType> ggml_type(DType dtype);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<uint64_t> shape;  // row-major: shape.back() is the fastest-varying
    uint64_t offset = 0;          // absolute byte offset in the file
    uint64_t bytes = 0;

    uint64_t n_elements() const;
};

class File {
  public:
    static File open(const std::filesystem::path& path);
    static File from_bytes(std::span<const std::byte> bytes, std::string name = "<memory>");

    const std::string& name() const { return name_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by offset
    const TensorInfo* find_tensor(std::string_view name) const;
    std::span<const std::byte> tensor_data(const TensorInfo& tensor) const;
    // F32, F16, BF16, F64 converted; integer types converted by value; others throw.
    std::vector<float> tensor_to_f32(const TensorInfo& tensor) const;
    // Lets the kernel drop the tensor's mapped pages (MappedBytes::drop_pages).
    void drop_pages(const TensorInfo& tensor) const;

  private:
    File() = default;
    void parse();

    std::shared_ptr<const MappedBytes> storage_;
    std::string name_;
    std::map<std::string, std::string> metadata_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> index_;
};

// Writes a safetensors file through mq::AtomicFile (tests and conversions). Data is borrowed.
struct TensorToWrite {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    std::span<const std::byte> data;
};
void write(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
           const std::map<std::string, std::string>& metadata = {});
std::vector<std::byte> to_bytes(const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata = {});

}  // namespace mq::safetensors
