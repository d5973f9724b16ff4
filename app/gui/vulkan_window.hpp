#pragma once
// The GLFW window, its swapchain and Dear ImGui's GLFW + Vulkan backends, on the engine's own
// Vulkan device (one vk::Context serves both). Every queue submission and present takes the
// context's queue mutex, because the generation worker submits compute work on the same queue.
#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vulkan/context.hpp"

namespace mq::gui {

// glfwInit with a readable error when there is no display. Returns the instance extensions the
// window surface needs.
std::vector<const char*> init_glfw_for_vulkan();

class VulkanWindow {
  public:
    VulkanWindow(vk::Context& ctx, const char* title, int width, int height);
    ~VulkanWindow();
    VulkanWindow(const VulkanWindow&) = delete;
    VulkanWindow& operator=(const VulkanWindow&) = delete;

    GLFWwindow* handle() const { return window_; }
    bool should_close() const { return glfwWindowShouldClose(window_); }
    void new_frame();                    // backends' NewFrame (call before ImGui::NewFrame)
    void render(ImDrawData* draw_data);  // records, submits and presents one frame
    // Renders draw_data again into an offscreen image of the swapchain's format and writes it as
    // PNG (what the window shows, without needing the X server).
    void save_png(ImDrawData* draw_data, const std::filesystem::path& path);

  private:
    void rebuild_swapchain();
    void upload_fonts();

    vk::Context& ctx_;
    GLFWwindow* window_ = nullptr;
    VkSurfaceKHR surface_ = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
    VkCommandPool upload_pool_ = VK_NULL_HANDLE;
    ImGui_ImplVulkanH_Window wd_;
    uint32_t min_image_count_ = 2;
    bool rebuild_ = false;
    bool imgui_glfw_ = false, imgui_vulkan_ = false;
};

}  // namespace mq::gui
