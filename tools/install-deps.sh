#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running MoBiQuant Studio need.
# Idempotent: does nothing when everything is already installed. Needs root (or sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake pkg-config git libopenblas-dev libhwy-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslang-tools vulkan-tools
  libglfw3-dev libimgui-dev libstb-dev
  doctest-dev nlohmann-json3-dev libpcre2-dev libcli11-dev libfmt-dev
  xvfb xauth xdotool imagemagick
  libicu-dev sentencepiece python3-sentencepiece
  libcpp-httplib-dev
)
# The tokenizer conformance tests and the GGUF cross-check run npm packages (keep a node that is already there).
command -v node >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
