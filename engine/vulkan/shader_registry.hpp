#pragma once
// SPIR-V modules compiled at build time and linked into the binary (see shaders/CMakeLists.txt).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace mq::vk {

struct EmbeddedShader {
    std::string_view name;
    std::span<const uint32_t> spirv;
};

const std::vector<EmbeddedShader>& embedded_shaders();

// Throws mq::Error naming the shader if it was not built in.
std::span<const uint32_t> find_shader(std::string_view name);

}  // namespace mq::vk
