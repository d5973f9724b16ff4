#!/usr/bin/env bash
# Builds everything and runs the whole test suite on the first Vulkan device (lavapipe on a
# machine without a GPU), with the Khronos validation layer on.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
