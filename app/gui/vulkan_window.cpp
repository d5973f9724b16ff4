#include "gui/vulkan_window.hpp"

#include <backends/imgui_impl_glfw.h>
#include <stb_image_write.h>

#include <cstdlib>
#include <cstring>

#include "core/error.hpp"

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

void VulkanWindow::save_png(ImDrawData* draw_data, const std::filesystem::path& path) {
    VkDevice dev = ctx_.device();
    const uint32_t w = uint32_t(wd_.Width), h = uint32_t(wd_.Height);
    const VkFormat format = wd_.SurfaceFormat.format;
    const auto& mem = ctx_.memory_properties();

    VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = format;
    ici.extent = {w, h, 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    VkImage image;
    check_vk(vkCreateImage(dev, &ici, nullptr, &image));
    VkMemoryRequirements req;
    vkGetImageMemoryRequirements(dev, image, &req);
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = memory_type(mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    VkDeviceMemory image_mem;
    check_vk(vkAllocateMemory(dev, &mai, nullptr, &image_mem));
    check_vk(vkBindImageMemory(dev, image, image_mem, 0));
    VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vci.image = image;
    vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vci.format = format;
    vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VkImageView view;
    check_vk(vkCreateImageView(dev, &vci, nullptr, &view));

    // Compatible with the window's render pass (same format and samples), so ImGui's pipeline
    // draws into it; it ends ready for the copy.
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
    VkRenderPass pass;
    check_vk(vkCreateRenderPass(dev, &rpi, nullptr, &pass));
    VkFramebufferCreateInfo fbi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
    fbi.renderPass = pass;
    fbi.attachmentCount = 1;
    fbi.pAttachments = &view;
    fbi.width = w;
    fbi.height = h;
    fbi.layers = 1;
    VkFramebuffer fb;
    check_vk(vkCreateFramebuffer(dev, &fbi, nullptr, &fb));

    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = VkDeviceSize(w) * h * 4;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer;
    check_vk(vkCreateBuffer(dev, &bci, nullptr, &buffer));
    vkGetBufferMemoryRequirements(dev, buffer, &req);
    mai.allocationSize = req.size;
    mai.memoryTypeIndex =
        memory_type(mem, req.memoryTypeBits,
                    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    VkDeviceMemory buffer_mem;
    check_vk(vkAllocateMemory(dev, &mai, nullptr, &buffer_mem));
    check_vk(vkBindBufferMemory(dev, buffer, buffer_mem, 0));

    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = upload_pool_;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VkCommandBuffer cb;
    check_vk(vkAllocateCommandBuffers(dev, &cai, &cb));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    check_vk(vkCreateFence(dev, &fci, nullptr, &fence));
    {
        // ImGui's vertex buffers rotate per draw; with the queue idle none is still in use.
        std::lock_guard lock(ctx_.queue_mutex());
        check_vk(vkQueueWaitIdle(ctx_.queue()));
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        check_vk(vkBeginCommandBuffer(cb, &bi));
        VkClearValue clear{};
        clear.color = {{0.07f, 0.08f, 0.10f, 1.0f}};
        VkRenderPassBeginInfo rp{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
        rp.renderPass = pass;
        rp.framebuffer = fb;
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
        ib.image = image;
        ib.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                             VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0, nullptr, 1, &ib);
        VkBufferImageCopy copy{};
        copy.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
        copy.imageExtent = {w, h, 1};
        vkCmdCopyImageToBuffer(cb, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, buffer, 1, &copy);
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                             &mb, 0, nullptr, 0, nullptr);
        check_vk(vkEndCommandBuffer(cb));
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cb;
        check_vk(vkQueueSubmit(ctx_.queue(), 1, &si, fence));
        check_vk(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX));
    }
    void* mapped = nullptr;
    check_vk(vkMapMemory(dev, buffer_mem, 0, VK_WHOLE_SIZE, 0, &mapped));
    std::vector<uint8_t> rgba(size_t(w) * h * 4);
    std::memcpy(rgba.data(), mapped, rgba.size());
    vkUnmapMemory(dev, buffer_mem);
    bool bgra = format == VK_FORMAT_B8G8R8A8_UNORM || format == VK_FORMAT_B8G8R8A8_SRGB;
    for (size_t i = 0; i < rgba.size(); i += 4) {
        if (bgra) std::swap(rgba[i], rgba[i + 2]);
        rgba[i + 3] = 255;
    }
    vkDestroyFence(dev, fence, nullptr);
    vkFreeCommandBuffers(dev, upload_pool_, 1, &cb);
    vkDestroyBuffer(dev, buffer, nullptr);
    vkFreeMemory(dev, buffer_mem, nullptr);
    vkDestroyFramebuffer(dev, fb, nullptr);
    vkDestroyRenderPass(dev, pass, nullptr);
    vkDestroyImageView(dev, view, nullptr);
    vkDestroyImage(dev, image, nullptr);
    vkFreeMemory(dev, image_mem, nullptr);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    if (!stbi_write_png(path.c_str(), int(w), int(h), 4, rgba.data(), int(w) * 4))
        fail("could not write the screenshot {}", path.string());
}

}  // namespace mq::gui
