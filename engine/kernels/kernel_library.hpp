#pragma once
// Pipelines are built once per (shader, specialization constants) and shared by every plan.
#include <map>
#include <memory>
#include <mutex>

#include "vulkan/kernel.hpp"

namespace mq::kernels {

class KernelLibrary {
  public:
    explicit KernelLibrary(vk::Context& ctx) : ctx_(ctx) {}
    vk::Kernel& get(const vk::KernelSpec& spec);
    vk::Context& context() const { return ctx_; }

  private:
    vk::Context& ctx_;
    std::mutex mutex_;
    std::map<std::pair<std::string, std::vector<uint32_t>>, std::unique_ptr<vk::Kernel>> kernels_;
};

}  // namespace mq::kernels
