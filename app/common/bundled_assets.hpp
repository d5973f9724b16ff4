#pragma once
// The files that ship with the program (assets/): where the CLI and the desktop app find the
// bundled model and texts. Looked up beside the build tree, in the installed share folder, then
// in the source tree the program was built from.
#include <filesystem>
#include <string>

namespace mq::app {

// A bundled file; the source tree's path when none exists, so messages name a real place.
std::filesystem::path asset_path(const std::string& name);

// The model `mobiquant` opens when none is named: $MOBIQUANT_MODEL, else the bundled model's
// MoBiQuant checkpoint default-mobiquant.gguf, else the plain default-model.gguf.
std::filesystem::path default_model_path();

// default_model_path() in words, for option help and "not found" messages.
inline constexpr const char* kDefaultModelText =
    "$MOBIQUANT_MODEL, else the bundled checkpoint assets/default-mobiquant.gguf, else the plain "
    "assets/default-model.gguf";

}  // namespace mq::app
