# Sourced by the shell tests that run the program itself (tests/gui, tests/cli) after they set
# $work: a fresh work folder, the validation layer on, no pipeline cache and no model taken from
# the environment, and die().
rm -rf "$work" && mkdir -p "$work"
export MOBIQUANT_VALIDATION=1 MOBIQUANT_PIPELINE_CACHE=0
# The Vulkan forward, even where the only device is lavapipe (the CPU backend is tested by name).
export MOBIQUANT_DEVICE=${MOBIQUANT_DEVICE:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
unset MOBIQUANT_MODEL
die() { echo "FAIL: $*" >&2; exit 1; }
