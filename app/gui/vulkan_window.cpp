#include "gui/vulkan_window.hpp"

#include <backends/imgui_impl_glfw.h>
#include <stb_image_write.h>

#include <cstdlib>

#include "core/error.hpp"
#include "gui/device_handle.hpp"
#include "vulkan/buffer.hpp"

namespace mq::gui {

namespace {

void check_vk(VkResult r) {
    if (r < 0) fail("Vulkan call in the UI failed (VkResult {})", static_cast<int>(r));
}

uint32_t memory_type(const VkPhysicalDeviceMemoryProperties& props, uint32_t bits,
                     VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
    fail("no Vulkan memory type for a screenshot");
}

}  // namespace

std::vector<const char*> init_glfw_for_vulkan() {
    const char* display = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    if ((!display || !*display) && (!wayland || !*wayland))
        fail(
            "no display: DISPLAY is not set. The desktop app needs a window system; run it in a "
            "desktop session, or headless under Xvfb: xvfb-run -a mobiquant gui");
    glfwSetErrorCallback([](int code, const char* text) {
        std::fprintf(stderr, "GLFW error %d: %s\n", code, text);
    });
    if (!glfwInit())
        fail("could not open the display \"{}\" (glfwInit failed)", display ? display : "");
    if (!glfwVulkanSupported()) fail("GLFW found no Vulkan loader for window surfaces");
    uint32_t n = 0;
    const char** ext = glfwGetRequiredInstanceExtensions(&n);
    if (!ext) fail("GLFW cannot create Vulkan surfaces on this display");
    return {ext, ext + n};
}

VulkanWindow::VulkanWindow(vk::Context& ctx, const char* title, int width, int height) : ctx_(ctx) {
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    window_ = glfwCreateWindow(width, height, title, nullptr, nullptr);
    if (!window_) fail("could not create the window");
    check_vk(glfwCreateWindowSurface(ctx.instance(), window_, nullptr, &surface_));
    VkBool32 present = VK_FALSE;
    vkGetPhysicalDeviceSurfaceSupportKHR(ctx.physical_device(), ctx.queue_family(), surface_,
                                         &present);
    if (!present)
        fail("the Vulkan device \"{}\" cannot present to this window from its compute queue",
             ctx.info().name);

    VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16}};
    VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
    dpi.maxSets = 16;
    dpi.poolSizeCount = 1;
    dpi.pPoolSizes = sizes;
    check_vk(vkCreateDescriptorPool(ctx.device(), &dpi, nullptr, &descriptor_pool_));
    VkCommandPoolCreateInfo cpi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    cpi.queueFamilyIndex = ctx.queue_family();
    check_vk(vkCreateCommandPool(ctx.device(), &cpi, nullptr, &upload_pool_));

    wd_.Surface = surface_;
    const VkFormat formats[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM};
    wd_.SurfaceFormat = ImGui_ImplVulkanH_SelectSurfaceFormat(
        ctx.physical_device(), surface_, formats, 2, VK_COLORSPACE_SRGB_NONLINEAR_KHR);
    // FIFO everywhere (always available); the frame loop paces itself, since Xvfb has no vblank.
    const VkPresentModeKHR modes[] = {VK_PRESENT_MODE_FIFO_KHR};
    wd_.PresentMode =
        ImGui_ImplVulkanH_SelectPresentMode(ctx.physical_device(), surface_, modes, 1);
    int w, h;
    glfwGetFramebufferSize(window_, &w, &h);
    {
        std::lock_guard lock(ctx.queue_mutex());  // the helper waits for the device to be idle
        ImGui_ImplVulkanH_CreateOrResizeWindow(ctx.instance(), ctx.physical_device(), ctx.device(),
                                               &wd_, ctx.queue_family(), nullptr, w, h,
                                               min_image_count_);
    }

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini in the working directory
    ImGui::StyleColorsDark();
    ImGui_ImplGlfw_InitForVulkan(window_, true);
    imgui_glfw_ = true;
    ImGui_ImplVulkan_InitInfo ii{};
    ii.Instance = ctx.instance();
    ii.PhysicalDevice = ctx.physical_device();
    ii.Device = ctx.device();
    ii.QueueFamily = ctx.queue_family();
    ii.Queue = ctx.queue();
    ii.PipelineCache = VK_NULL_HANDLE;
    ii.DescriptorPool = descriptor_pool_;
    ii.Subpass = 0;
    ii.MinImageCount = min_image_count_;
    ii.ImageCount = wd_.ImageCount;
    ii.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
    ii.CheckVkResultFn = check_vk;
    ImGui_ImplVulkan_Init(&ii, wd_.RenderPass);
    imgui_vulkan_ = true;
    upload_fonts();
}

void VulkanWindow::upload_fonts() {
    ctx_.run_once([](VkCommandBuffer cb) { ImGui_ImplVulkan_CreateFontsTexture(cb); });
    ImGui_ImplVulkan_DestroyFontUploadObjects();
}

VulkanWindow::~VulkanWindow() {
    {
        std::lock_guard lock(ctx_.queue_mutex());
        vkQueueWaitIdle(ctx_.queue());
    }
    if (imgui_vulkan_) ImGui_ImplVulkan_Shutdown();
    if (imgui_glfw_) ImGui_ImplGlfw_Shutdown();
    if (ImGui::GetCurrentContext()) ImGui::DestroyContext();
    {
        std::lock_guard lock(ctx_.queue_mutex());
        if (wd_.Swapchain || wd_.Frames)
            ImGui_ImplVulkanH_DestroyWindow(ctx_.instance(), ctx_.device(), &wd_, nullptr);
        else if (surface_)
            vkDestroySurfaceKHR(ctx_.instance(), surface_, nullptr);
    }
    if (upload_pool_) vkDestroyCommandPool(ctx_.device(), upload_pool_, nullptr);
    if (descriptor_pool_) vkDestroyDescriptorPool(ctx_.device(), descriptor_pool_, nullptr);
    if (window_) glfwDestroyWindow(window_);
    glfwTerminate();
}

void VulkanWindow::rebuild_swapchain() {
    int w, h;
    glfwGetFramebufferSize(window_, &w, &h);
    if (w <= 0 || h <= 0) return;
    ImGui_ImplVulkan_SetMinImageCount(min_image_count_);
    std::lock_guard lock(ctx_.queue_mutex());
    ImGui_ImplVulkanH_CreateOrResizeWindow(ctx_.instance(), ctx_.physical_device(), ctx_.device(),
                                           &wd_, ctx_.queue_family(), nullptr, w, h,
                                           min_image_count_);
    wd_.FrameIndex = 0;
    rebuild_ = false;
}

void VulkanWindow::new_frame() {
    if (rebuild_) rebuild_swapchain();
    ImGui_ImplVulkan_NewFrame();
    ImGui_ImplGlfw_NewFrame();
}

void VulkanWindow::render(ImDrawData* draw_data) {
    if (draw_data->DisplaySize.x <= 0 || draw_data->DisplaySize.y <= 0) return;
    VkDevice dev = ctx_.device();
    VkSemaphore acquired = wd_.FrameSemaphores[wd_.SemaphoreIndex].ImageAcquiredSemaphore;
    VkSemaphore done = wd_.FrameSemaphores[wd_.SemaphoreIndex].RenderCompleteSemaphore;
    VkResult r = vkAcquireNextImageKHR(dev, wd_.Swapchain, UINT64_MAX, acquired, VK_NULL_HANDLE,
                                       &wd_.FrameIndex);
    if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) {
        rebuild_ = true;
        if (r == VK_ERROR_OUT_OF_DATE_KHR) return;
    } else {
        check_vk(r);
    }
    ImGui_ImplVulkanH_Frame* fd = &wd_.Frames[wd_.FrameIndex];
    check_vk(vkWaitForFences(dev, 1, &fd->Fence, VK_TRUE, UINT64_MAX));
    check_vk(vkResetFences(dev, 1, &fd->Fence));
    check_vk(vkResetCommandPool(dev, fd->CommandPool, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check_vk(vkBeginCommandBuffer(fd->CommandBuffer, &bi));
    VkClearValue clear{};
    clear.color = {{0.07f, 0.08f, 0.10f, 1.0f}};
    VkRenderPassBeginInfo rp{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
    rp.renderPass = wd_.RenderPass;
    rp.framebuffer = fd->Framebuffer;
    rp.renderArea.extent = {uint32_t(wd_.Width), uint32_t(wd_.Height)};
    rp.clearValueCount = 1;
    rp.pClearValues = &clear;
    vkCmdBeginRenderPass(fd->CommandBuffer, &rp, VK_SUBPASS_CONTENTS_INLINE);
    ImGui_ImplVulkan_RenderDrawData(draw_data, fd->CommandBuffer);
    vkCmdEndRenderPass(fd->CommandBuffer);
    check_vk(vkEndCommandBuffer(fd->CommandBuffer));

    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &acquired;
    si.pWaitDstStageMask = &wait_stage;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &fd->CommandBuffer;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &done;
    VkPresentInfoKHR pi{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
    pi.waitSemaphoreCount = 1;
    pi.pWaitSemaphores = &done;
    pi.swapchainCount = 1;
    pi.pSwapchains = &wd_.Swapchain;
    pi.pImageIndices = &wd_.FrameIndex;
    {
        std::lock_guard lock(ctx_.queue_mutex());
        check_vk(vkQueueSubmit(ctx_.queue(), 1, &si, fd->Fence));
        r = vkQueuePresentKHR(ctx_.queue(), &pi);
    }
    if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR)
        rebuild_ = true;
    else
        check_vk(r);
    wd_.SemaphoreIndex = (wd_.SemaphoreIndex + 1) % wd_.ImageCount;
}

namespace {

// An image of the window's size and format that ImGui's pipeline can draw into: its render pass
// matches the window's (same format, samples and dependency) and ends ready for a copy.
struct OffscreenTarget {
    ImageHandle image;
    MemoryHandle memory;
    ImageViewHandle view;
    RenderPassHandle pass;
    FramebufferHandle framebuffer;
    explicit OffscreenTarget(VkDevice dev)
        : image(dev), memory(dev), view(dev), pass(dev), framebuffer(dev) {}
};

void create_image(VkDevice dev, const VkPhysicalDeviceMemoryProperties& mem, VkFormat format,
                  uint32_t w, uint32_t h, OffscreenTarget& t) {
    VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = format;
    ici.extent = {w, h, 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    check_vk(vkCreateImage(dev, &ici, nullptr, t.image.out()));
    VkMemoryRequirements req;
    vkGetImageMemoryRequirements(dev, t.image.get(), &req);
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = memory_type(mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    check_vk(vkAllocateMemory(dev, &mai, nullptr, t.memory.out()));
    check_vk(vkBindImageMemory(dev, t.image.get(), t.memory.get(), 0));
    VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vci.image = t.image.get();
    vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vci.format = format;
    vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    check_vk(vkCreateImageView(dev, &vci, nullptr, t.view.out()));
}

void create_render_pass(VkDevice dev, VkFormat format, OffscreenTarget& t) {
    VkAttachmentDescription att{};
    att.format = format;
    att.samples = VK_SAMPLE_COUNT_1_BIT;
    att.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
    att.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
    att.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
    att.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
    att.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    att.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
    VkSubpassDescription sub{};
    sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    sub.colorAttachmentCount = 1;
    sub.pColorAttachments = &ref;
    // The same dependency as the window's render pass (render passes must match to share ImGui's
    // pipeline); the copy waits on a barrier after the pass instead.
    VkSubpassDependency dep{};
    dep.srcSubpass = VK_SUBPASS_EXTERNAL;
    dep.dstSubpass = 0;
    dep.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    dep.dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    dep.srcAccessMask = 0;
    dep.dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
    VkRenderPassCreateInfo rpi{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
    rpi.attachmentCount = 1;
    rpi.pAttachments = &att;
    rpi.subpassCount = 1;
    rpi.pSubpasses = &sub;
    rpi.dependencyCount = 1;
    rpi.pDependencies = &dep;
    check_vk(vkCreateRenderPass(dev, &rpi, nullptr, t.pass.out()));
}

void create_framebuffer(VkDevice dev, uint32_t w, uint32_t h, OffscreenTarget& t) {
    VkImageView view = t.view.get();
    VkFramebufferCreateInfo fbi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
    fbi.renderPass = t.pass.get();
    fbi.attachmentCount = 1;
    fbi.pAttachments = &view;
    fbi.width = w;
    fbi.height = h;
    fbi.layers = 1;
    check_vk(vkCreateFramebuffer(dev, &fbi, nullptr, t.framebuffer.out()));
}

// Draws draw_data into the target, then copies the image into `pixels` (w x h x 4 bytes).
void record_draw_and_copy(VkCommandBuffer cb, ImDrawData* draw_data, const OffscreenTarget& t,
                          uint32_t w, uint32_t h, VkBuffer pixels) {
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check_vk(vkBeginCommandBuffer(cb, &bi));
    VkClearValue clear{};
    clear.color = {{0.07f, 0.08f, 0.10f, 1.0f}};
    VkRenderPassBeginInfo rp{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
    rp.renderPass = t.pass.get();
    rp.framebuffer = t.framebuffer.get();
    rp.renderArea.extent = {w, h};
    rp.clearValueCount = 1;
    rp.pClearValues = &clear;
    vkCmdBeginRenderPass(cb, &rp, VK_SUBPASS_CONTENTS_INLINE);
    ImGui_ImplVulkan_RenderDrawData(draw_data, cb);
    vkCmdEndRenderPass(cb);
    VkImageMemoryBarrier ib{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
    ib.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
    ib.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    ib.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    ib.newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    ib.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    ib.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    ib.image = t.image.get();
    ib.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0, nullptr, 1, &ib);
    VkBufferImageCopy copy{};
    copy.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    copy.imageExtent = {w, h, 1};
    vkCmdCopyImageToBuffer(cb, t.image.get(), VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, pixels, 1,
                           &copy);
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb,
                         0, nullptr, 0, nullptr);
    check_vk(vkEndCommandBuffer(cb));
}

// BGRA or RGBA pixels as opaque RGBA, then a PNG.
void write_png(std::vector<uint8_t> pixels, VkFormat format, uint32_t w, uint32_t h,
               const std::filesystem::path& path) {
    const bool bgra = format == VK_FORMAT_B8G8R8A8_UNORM || format == VK_FORMAT_B8G8R8A8_SRGB;
    for (size_t i = 0; i < pixels.size(); i += 4) {
        if (bgra) std::swap(pixels[i], pixels[i + 2]);
        pixels[i + 3] = 255;
    }
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    if (!stbi_write_png(path.c_str(), int(w), int(h), 4, pixels.data(), int(w) * 4))
        fail("could not write the screenshot {}", path.string());
}

}  // namespace

void VulkanWindow::save_png(ImDrawData* draw_data, const std::filesystem::path& path) {
    VkDevice dev = ctx_.device();
    const uint32_t w = uint32_t(wd_.Width), h = uint32_t(wd_.Height);
    const VkFormat format = wd_.SurfaceFormat.format;

    OffscreenTarget target(dev);
    create_image(dev, ctx_.memory_properties(), format, w, h, target);
    create_render_pass(dev, format, target);
    create_framebuffer(dev, w, h, target);
    vk::Buffer pixels(ctx_, uint64_t(w) * h * 4, vk::MemoryKind::Host,
                      VK_BUFFER_USAGE_TRANSFER_DST_BIT);

    CommandPoolHandle pool(dev);  // destroying the pool frees its command buffer
    *pool.out() = ctx_.create_command_pool(VK_COMMAND_POOL_CREATE_TRANSIENT_BIT);
    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = pool.get();
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VkCommandBuffer cb;
    check_vk(vkAllocateCommandBuffers(dev, &cai, &cb));
    FenceHandle fence(dev);
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check_vk(vkCreateFence(dev, &fci, nullptr, fence.out()));
    {
        // ImGui's vertex buffers rotate per draw; with the queue idle none is still in use.
        std::lock_guard lock(ctx_.queue_mutex());
        check_vk(vkQueueWaitIdle(ctx_.queue()));
        record_draw_and_copy(cb, draw_data, target, w, h, pixels.handle());
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cb;
        check_vk(vkQueueSubmit(ctx_.queue(), 1, &si, fence.get()));
        VkFence done = fence.get();
        check_vk(vkWaitForFences(dev, 1, &done, VK_TRUE, UINT64_MAX));
    }
    write_png(pixels.read<uint8_t>(uint64_t(w) * h * 4), format, w, h, path);
}

}  // namespace mq::gui
