#!/usr/bin/env bash
# Remakes the README's screenshots (docs/screenshot.png, docs/screenshot-whatif.png,
# docs/screenshot-speed.png): the app on the bundled checkpoint in a 1280x800 virtual X server,
# driven by a scripted session.
# usage: tools/screenshots.sh [BUILD_DIR]   (needs xvfb-run; run from the repository root)
set -euo pipefail
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/session.txt" <<'SCRIPT'
timeout 120
wait_model
set seed 3
set temperature 0.5
set max_tokens 90
slider 6.0
type Elizabeth looked at her sister and said
click send
wait_tokens 30
slider 3.5
wait 0.5
wait_idle
hover heatmap
wait 0.5
screenshot screenshot
click_token 12
wait_whatif
hover whatif_table
wait 0.5
screenshot screenshot-whatif
speed 30
click regenerate
wait 0.5
click tab_routing
wait_idle
screenshot screenshot-speed
quit
SCRIPT
xvfb-run -a -s "-screen 0 1280x800x24" "$build/bin/mobiquant" gui --fps 20 \
    --script "$work/session.txt" --screenshot-dir "$work"
cp "$work/screenshot.png" "$work/screenshot-whatif.png" "$work/screenshot-speed.png" docs/
echo "wrote docs/screenshot.png, docs/screenshot-whatif.png and docs/screenshot-speed.png"
