// libFuzzer target: the GGUF reader, the model description built on it, and dequantization.
// Any exception other than mq::Error, any crash, leak or out-of-bounds read is a finding.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/model_desc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file = mq::gguf::File::from_bytes({reinterpret_cast<const std::byte*>(data), size});
        for (const auto& [key, value] : file.metadata()) (void)value.to_display();
        for (const auto& t : file.tensors())
            if (mq::gguf::can_dequantize(t.type)) (void)file.tensor_to_f32(t);
        try {
            mq::ModelDesc desc = mq::describe_gguf(file);
            (void)mq::expected_tensors(desc);
        } catch (const mq::Error&) {
        }
    } catch (const mq::Error&) {
    }
    return 0;
}
