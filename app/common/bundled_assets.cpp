#include "common/bundled_assets.hpp"

#include <cstdlib>
#include <optional>
#include <vector>

namespace mq::app {

namespace fs = std::filesystem;

namespace {
std::vector<fs::path> asset_dirs() {
    std::vector<fs::path> dirs;
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        dirs.push_back(exe.parent_path() / "../../assets");  // build/bin
        dirs.push_back(exe.parent_path() / "../share/mobiquant");
    }
    dirs.push_back(fs::path(MQ_SOURCE_DIR) / "assets");
    return dirs;
}

std::optional<fs::path> find_asset(const std::string& name) {
    std::error_code ec;
    for (const fs::path& dir : asset_dirs())
        if (fs::exists(dir / name, ec)) return fs::weakly_canonical(dir / name, ec);
    return std::nullopt;
}
}  // namespace

fs::path asset_path(const std::string& name) {
    if (auto found = find_asset(name)) return *found;
    return fs::path(MQ_SOURCE_DIR) / "assets" / name;
}

fs::path default_model_path() {
    if (const char* env = std::getenv("MOBIQUANT_MODEL"); env && *env) return env;
    if (auto checkpoint = find_asset("default-mobiquant.gguf")) return *checkpoint;
    return asset_path("default-model.gguf");
}

}  // namespace mq::app
