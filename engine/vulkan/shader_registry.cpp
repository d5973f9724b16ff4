#include "vulkan/shader_registry.hpp"

#include "core/error.hpp"

namespace mq::vk {

std::span<const uint32_t> find_shader(std::string_view name) {
    for (const auto& s : embedded_shaders())
        if (s.name == name) return s.spirv;
    fail("shader \"{}\" is not built into this binary", name);
}

}  // namespace mq::vk
