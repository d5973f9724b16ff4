// libFuzzer target: the safetensors reader (header JSON, offsets, dtype conversion).
// Any exception other than mq::Error, any crash, leak or out-of-bounds read is a finding.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "formats/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file =
            mq::safetensors::File::from_bytes({reinterpret_cast<const std::byte*>(data), size});
        for (const auto& t : file.tensors()) {
            try {
                (void)file.tensor_to_f32(t);
            } catch (const mq::Error&) {  // dtypes without an f32 conversion (F8)
            }
        }
    } catch (const mq::Error&) {
    }
    return 0;
}
