// mobiquant devices: the CPU backend and every Vulkan device with the limits and features the
// engine relies on, the default marked.
#include <nlohmann/json.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "cpu/thread_pool.hpp"
#include "runtime/device_choice.hpp"
#include "vulkan/device_info.hpp"

namespace {

std::string mib(uint64_t bytes) {
    return fmt::format("{:.0f} MiB", bytes / 1048576.0);
}

int run_devices(bool json) {
    std::vector<mq::vk::DeviceInfo> devices;
    try {
        devices = mq::vk::list_devices();
    } catch (const mq::Error&) {  // no Vulkan loader or driver: the CPU backend remains
    }
    const mq::rt::DeviceChoice choice = mq::rt::choose_device("");
    const int64_t chosen =
        choice.cpu ? -1 : std::stoll(choice.vulkan_device.empty() ? "-1" : choice.vulkan_device);
    const unsigned cores = mq::cpu::physical_core_count();
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        out.push_back({{"index", "cpu"},
                       {"name", "CPU backend"},
                       {"type", "cpu"},
                       {"default", choice.cpu},
                       {"threads", cores}});
        for (auto& d : devices)
            out.push_back(
                {{"index", d.index},
                 {"name", d.name},
                 {"type", d.type_name()},
                 {"default", int64_t(d.index) == chosen},
                 {"api_version", fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(d.api_version),
                                             VK_API_VERSION_MINOR(d.api_version),
                                             VK_API_VERSION_PATCH(d.api_version))},
                 {"driver", d.driver},
                 {"max_storage_buffer_range", d.max_storage_buffer_range},
                 {"max_uniform_buffer_range", d.max_uniform_buffer_range},
                 {"max_memory_allocation_size", d.max_memory_allocation_size},
                 {"max_compute_shared_memory", d.max_compute_shared_memory},
                 {"max_workgroup_invocations", d.max_workgroup_invocations},
                 {"max_workgroup_count", d.max_workgroup_count},
                 {"subgroup_size", d.subgroup_size},
                 {"subgroup_arithmetic", d.subgroup_arithmetic},
                 {"shader_float16", d.shader_float16},
                 {"shader_int8", d.shader_int8},
                 {"storage_16bit", d.storage_16bit},
                 {"storage_8bit", d.storage_8bit},
                 {"timestamps", d.timestamps},
                 {"device_local_bytes", d.device_local_bytes}});
        std::puts(out.dump(2).c_str());
        return 0;
    }
    fmt::print("{}cpu: CPU backend ({} physical cores){}\n", choice.cpu ? "*" : " ", cores,
               choice.cpu ? fmt::format("  [default: {}]", choice.reason) : "");
    if (devices.empty())
        std::puts(
            "  No Vulkan devices found (a GPU needs a Vulkan driver, e.g. mesa-vulkan-drivers).");
    for (auto& d : devices) {
        const bool is_default = int64_t(d.index) == chosen;
        fmt::print("{}{}: {} ({}, Vulkan {}.{}){}\n", is_default ? "*" : " ", d.index, d.name,
                   d.type_name(), VK_API_VERSION_MAJOR(d.api_version),
                   VK_API_VERSION_MINOR(d.api_version), is_default ? "  [default]" : "");
        if (!d.driver.empty()) fmt::print("    driver                  {}\n", d.driver);
        fmt::print("    device-local memory     {}\n", mib(d.device_local_bytes));
        fmt::print("    max storage binding     {}\n", mib(d.max_storage_buffer_range));
        fmt::print("    max uniform binding     {} bytes\n", d.max_uniform_buffer_range);
        fmt::print("    max allocation          {}\n", mib(d.max_memory_allocation_size));
        fmt::print("    shared memory           {} bytes\n", d.max_compute_shared_memory);
        fmt::print("    workgroup invocations   {}, groups {}x{}x{}\n", d.max_workgroup_invocations,
                   d.max_workgroup_count[0], d.max_workgroup_count[1], d.max_workgroup_count[2]);
        fmt::print("    subgroup size           {} (arithmetic: {})\n", d.subgroup_size,
                   d.subgroup_arithmetic ? "yes" : "no");
        fmt::print("    fp16 / int8 / 16-bit / 8-bit storage   {} / {} / {} / {}\n",
                   d.shader_float16 ? "yes" : "no", d.shader_int8 ? "yes" : "no",
                   d.storage_16bit ? "yes" : "no", d.storage_8bit ? "yes" : "no");
        fmt::print("    timestamps              {}\n", d.timestamps ? "yes" : "no");
    }
    std::puts("\nPick one with --device cpu|INDEX|NAME|lavapipe or MOBIQUANT_DEVICE.");
    return 0;
}

mq::cli::Registration reg{
    "devices", "List the CPU backend and the Vulkan devices with their limits", [](CLI::App& cmd) {
        auto json = std::make_shared<bool>(false);
        cmd.add_flag("--json", *json, "Print JSON");
        return [json] { return run_devices(*json); };
    }};

}  // namespace
