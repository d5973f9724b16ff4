// mobiquant devices: every Vulkan device with the limits and features the engine relies on.
#include <nlohmann/json.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "vulkan/device_info.hpp"

namespace {

std::string mib(uint64_t bytes) {
    return fmt::format("{:.0f} MiB", bytes / 1048576.0);
}

int run_devices(bool json) {
    auto devices = mq::vk::list_devices();
    uint32_t chosen = devices.empty() ? 0 : mq::vk::select_device(devices, "");
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (auto& d : devices)
            out.push_back(
                {{"index", d.index},
                 {"name", d.name},
                 {"type", d.type_name()},
                 {"default", d.index == chosen},
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
    if (devices.empty()) {
        std::puts("No Vulkan devices found. Install a Vulkan driver (e.g. mesa-vulkan-drivers).");
        return 1;
    }
    for (auto& d : devices) {
        fmt::print("{}{}: {} ({}, Vulkan {}.{}){}\n", d.index == chosen ? "*" : " ", d.index,
                   d.name, d.type_name(), VK_API_VERSION_MAJOR(d.api_version),
                   VK_API_VERSION_MINOR(d.api_version), d.index == chosen ? "  [default]" : "");
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
    std::puts("\nPick one with --device INDEX|NAME or MOBIQUANT_DEVICE.");
    return 0;
}

mq::cli::Registration reg{"devices", "List Vulkan devices with their limits and features",
                          [](CLI::App& cmd) {
                              auto json = std::make_shared<bool>(false);
                              cmd.add_flag("--json", *json, "Print JSON");
                              return [json] { return run_devices(*json); };
                          }};

}  // namespace
