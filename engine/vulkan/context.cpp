#include "vulkan/context.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "vulkan/check.hpp"
#include "vulkan/pipeline_cache.hpp"

namespace mq::vk {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        std::string msg = data && data->pMessage ? data->pMessage : "(no message)";
        std::fprintf(stderr, "[vulkan validation] %s\n", msg.c_str());
        static_cast<Context*>(user)->record_validation_message(std::move(msg));
    }
    return VK_FALSE;
}

bool layer_available(const char* name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> layers(n);
    vkEnumerateInstanceLayerProperties(&n, layers.data());
    for (auto& l : layers)
        if (std::strcmp(l.layerName, name) == 0) return true;
    return false;
}

}  // namespace

Context::Context(ContextOptions options) {
    validation_ = options.validation || env_flag("MOBIQUANT_VALIDATION");
    create_instance(options);
    try {
        if (validation_) create_messenger();
        choose_device(options);
        create_device(options);
        apply_memory_options(options);
        open_pipeline_cache(options);
    } catch (...) {
        release();
        throw;
    }
}

// The instance, with the validation layer when asked for.
void Context::create_instance(const ContextOptions& options) {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "mobiquant";
    app.pEngineName = "mobiquant";
    app.apiVersion = VK_API_VERSION_1_2;

    std::vector<const char*> extensions = options.instance_extensions;
    std::vector<const char*> layers;
    const VkDebugUtilsMessengerCreateInfoEXT messenger_ci = messenger_info();
    if (validation_) {
        if (!layer_available(kValidationLayer))
            fail("validation requested but {} is not installed (Debian: vulkan-validationlayers)",
                 kValidationLayer);
        layers.push_back(kValidationLayer);
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }

    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pApplicationInfo = &app;
    ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
    ici.ppEnabledLayerNames = layers.data();
    ici.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    ici.ppEnabledExtensionNames = extensions.data();
    if (validation_) ici.pNext = &messenger_ci;  // also catches create/destroy-time messages
    VK_CHECK(vkCreateInstance(&ici, nullptr, &instance_));
}

// Validation messages (warnings and errors) go to on_validation_message with this context.
VkDebugUtilsMessengerCreateInfoEXT Context::messenger_info() {
    VkDebugUtilsMessengerCreateInfoEXT ci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    ci.pfnUserCallback = on_validation_message;
    ci.pUserData = this;
    return ci;
}

void Context::create_messenger() {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    const VkDebugUtilsMessengerCreateInfoEXT ci = messenger_info();
    if (create) VK_CHECK(create(instance_, &ci, nullptr, &messenger_));
}

// The physical device (options, else MOBIQUANT_DEVICE, else the preferred one) and its compute
// queue family.
void Context::choose_device(const ContextOptions& options) {
    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(instance_, &n, nullptr));
    std::vector<VkPhysicalDevice> devices(n);
    VK_CHECK(vkEnumeratePhysicalDevices(instance_, &n, devices.data()));
    std::vector<DeviceInfo> infos;
    for (uint32_t i = 0; i < n; ++i) infos.push_back(query_device_info(devices[i], i));
    std::string selector = options.device;
    if (selector.empty())
        if (const char* env = std::getenv("MOBIQUANT_DEVICE")) selector = env;
    uint32_t chosen = select_device(infos, selector);
    physical_ = devices[chosen];
    info_ = infos[chosen];
    if (info_.api_version < VK_API_VERSION_1_1)
        fail("device {} supports only Vulkan {}.{}; MoBiQuant needs Vulkan 1.1", info_.name,
             VK_API_VERSION_MAJOR(info_.api_version), VK_API_VERSION_MINOR(info_.api_version));
    require(info_.has_compute_queue, "a compute queue");
    vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

    uint32_t n_families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_families, nullptr);
    std::vector<VkQueueFamilyProperties> families(n_families);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_families, families.data());
    for (uint32_t i = 0; i < n_families; ++i)
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            queue_family_ = i;
            break;
        }
}

// The logical device with one compute queue and every optional feature the device has; kernels
// that need one check for it.
void Context::create_device(const ContextOptions& options) {
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDevice16BitStorageFeatures f16s{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    f16s.storageBuffer16BitAccess = info_.storage_16bit;
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    features.pNext = &f16s;
    if (info_.api_version >= VK_API_VERSION_1_2) {
        f12.shaderFloat16 = info_.shader_float16;
        f12.shaderInt8 = info_.shader_int8;
        f12.storageBuffer8BitAccess = info_.storage_8bit;
        f16s.pNext = &f12;
    }

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &features;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = static_cast<uint32_t>(options.device_extensions.size());
    dci.ppEnabledExtensionNames = options.device_extensions.data();
    VK_CHECK(vkCreateDevice(physical_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
}

// The storage range limit, memory budget and memory model: the options, overridden by
// MOBIQUANT_MEMORY_BUDGET_MB and MOBIQUANT_MEMORY_MODEL.
void Context::apply_memory_options(const ContextOptions& options) {
    storage_range_limit_ = info_.max_storage_buffer_range;
    if (options.storage_range_limit && options.storage_range_limit < storage_range_limit_)
        storage_range_limit_ = options.storage_range_limit;

    memory_budget_ = options.memory_budget;
    if (const char* mb = std::getenv("MOBIQUANT_MEMORY_BUDGET_MB"); mb && *mb) {
        char* end = nullptr;
        unsigned long long v = std::strtoull(mb, &end, 10);
        if (*end || v == 0)
            fail("MOBIQUANT_MEMORY_BUDGET_MB=\"{}\" is not a positive number of MiB", mb);
        memory_budget_ = uint64_t(v) << 20;
    }

    memory_model_ = options.memory_model;
    if (const char* mm = std::getenv("MOBIQUANT_MEMORY_MODEL"); mm && *mm) {
        if (std::strcmp(mm, "discrete") == 0)
            memory_model_ = MemoryModel::Discrete;
        else if (std::strcmp(mm, "native") != 0)
            fail("MOBIQUANT_MEMORY_MODEL=\"{}\" is not \"native\" or \"discrete\"", mm);
    }
}

// The pipeline cache, kept on disk unless the options or MOBIQUANT_PIPELINE_CACHE=0 say not.
void Context::open_pipeline_cache(const ContextOptions& options) {
    std::filesystem::path cache_dir = options.cache_dir;
    bool use_file = options.pipeline_cache;
    if (std::getenv("MOBIQUANT_PIPELINE_CACHE") && !env_flag("MOBIQUANT_PIPELINE_CACHE"))
        use_file = false;
    if (use_file && cache_dir.empty()) cache_dir = default_cache_dir();
    cache_ = std::make_unique<PipelineCache>(device_, info_, use_file ? cache_dir : "");
}

Context::~Context() {
    release();
}

void Context::release() {
    cache_.reset();
    if (device_) {
        vkDeviceWaitIdle(device_);
        for (auto& [thread, tc] : thread_commands_) {
            if (tc.fence) vkDestroyFence(device_, tc.fence, nullptr);
            if (tc.pool) vkDestroyCommandPool(device_, tc.pool, nullptr);
        }
        thread_commands_.clear();
        vkDestroyDevice(device_, nullptr);
        device_ = VK_NULL_HANDLE;
    }
    if (messenger_) {
        auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy) destroy(instance_, messenger_, nullptr);
        messenger_ = VK_NULL_HANDLE;
    }
    if (instance_) {
        vkDestroyInstance(instance_, nullptr);
        instance_ = VK_NULL_HANDLE;
    }
}

VkPipelineCache Context::pipeline_cache() const {
    return cache_->handle();
}

size_t Context::pipeline_cache_loaded_bytes() const {
    return cache_->loaded_bytes();
}

void Context::record_validation_message(std::string message) {
    validation_count_++;
    std::lock_guard lock(log_mutex_);
    validation_log_.push_back(std::move(message));
}

std::vector<std::string> Context::validation_messages() const {
    std::lock_guard lock(log_mutex_);
    return validation_log_;
}

void Context::reserve_memory(uint64_t bytes) {
    uint64_t before = allocated_.fetch_add(bytes);
    if (memory_budget_ && before + bytes > memory_budget_) {
        allocated_ -= bytes;
        fail(
            "out of device memory: {:.1f} MiB more on {} would exceed the memory budget of "
            "{:.1f} MiB ({:.1f} MiB in use); use a smaller model, context or batch",
            bytes / 1048576.0, info_.name, memory_budget_ / 1048576.0, before / 1048576.0);
    }
}

void Context::require(bool present, const char* feature) const {
    if (!present)
        fail("the Vulkan device \"{}\" lacks a feature MoBiQuant needs: {}", info_.name, feature);
}

VkCommandPool Context::create_command_pool(VkCommandPoolCreateFlags flags) const {
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = flags;
    pci.queueFamilyIndex = queue_family_;
    VkCommandPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateCommandPool(device_, &pci, nullptr, &pool));
    return pool;
}

Context::ThreadCommands& Context::thread_commands() {
    std::lock_guard lock(thread_commands_mutex_);
    ThreadCommands& tc = thread_commands_[std::this_thread::get_id()];  // references stay valid
    if (!tc.pool) {
        tc.pool = create_command_pool(VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT |
                                      VK_COMMAND_POOL_CREATE_TRANSIENT_BIT);
    }
    if (!tc.fence) {
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VK_CHECK(vkCreateFence(device_, &fci, nullptr, &tc.fence));
    }
    return tc;
}

VkCommandBuffer Context::begin_one_time() {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = thread_commands().pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb;
    VK_CHECK(vkAllocateCommandBuffers(device_, &ai, &cb));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    return cb;
}

void Context::end_one_time(VkCommandBuffer cb) {
    VkCommandPool pool = thread_commands().pool;
    try {
        VK_CHECK(vkEndCommandBuffer(cb));
        submit_and_wait(cb);
    } catch (...) {
        vkFreeCommandBuffers(device_, pool, 1, &cb);
        throw;
    }
    vkFreeCommandBuffers(device_, pool, 1, &cb);
}

void Context::submit(VkCommandBuffer cb, VkFence fence) {
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    std::lock_guard lock(queue_mutex_);
    submit_count_++;
    VK_CHECK(vkQueueSubmit(queue_, 1, &si, fence));
}

void Context::submit_and_wait(VkCommandBuffer cb) {
    VkFence fence = thread_commands().fence;
    VK_CHECK(vkResetFences(device_, 1, &fence));
    submit(cb, fence);
    VK_CHECK(vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX));  // queue free meanwhile
}

}  // namespace mq::vk
