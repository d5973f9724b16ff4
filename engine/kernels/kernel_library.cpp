#include "kernels/kernel_library.hpp"

namespace mq::kernels {

vk::Kernel& KernelLibrary::get(const vk::KernelSpec& spec) {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(spec.shader, spec.spec_constants);
    auto it = kernels_.find(key);
    if (it == kernels_.end())
        it = kernels_.emplace(key, std::make_unique<vk::Kernel>(ctx_, spec)).first;
    return *it->second;
}

}  // namespace mq::kernels
