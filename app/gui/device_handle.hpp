#pragma once
// A Vulkan object owned by the scope that created it: destroyed with its device when the scope
// ends, also when an exception leaves it.
#include <vulkan/vulkan.h>

#include <utility>

namespace mq::gui {

template <typename Handle, void (*Destroy)(VkDevice, Handle, const VkAllocationCallbacks*)>
class DeviceHandle {
  public:
    explicit DeviceHandle(VkDevice device) : device_(device) {}
    ~DeviceHandle() {
        if (handle_ != VK_NULL_HANDLE) Destroy(device_, handle_, nullptr);
    }
    DeviceHandle(const DeviceHandle&) = delete;
    DeviceHandle& operator=(const DeviceHandle&) = delete;

    Handle get() const { return handle_; }
    Handle* out() { return &handle_; }  // for vkCreate*: the handle is destroyed once set

  private:
    VkDevice device_;
    Handle handle_ = VK_NULL_HANDLE;
};

using ImageHandle = DeviceHandle<VkImage, vkDestroyImage>;
using MemoryHandle = DeviceHandle<VkDeviceMemory, vkFreeMemory>;
using ImageViewHandle = DeviceHandle<VkImageView, vkDestroyImageView>;
using RenderPassHandle = DeviceHandle<VkRenderPass, vkDestroyRenderPass>;
using FramebufferHandle = DeviceHandle<VkFramebuffer, vkDestroyFramebuffer>;
using FenceHandle = DeviceHandle<VkFence, vkDestroyFence>;
using CommandPoolHandle = DeviceHandle<VkCommandPool, vkDestroyCommandPool>;

}  // namespace mq::gui
