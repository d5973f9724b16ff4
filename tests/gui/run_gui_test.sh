#!/usr/bin/env bash
# The desktop app under Xvfb on lavapipe, driven by a --script of UI actions.
# usage: run_gui_test.sh MOBIQUANT WRITE_MODEL chat|missing|nodisplay WORKDIR
set -uo pipefail
mq=$1 writer=$2 mode=$3 work=$4
rm -rf "$work" && mkdir -p "$work/shots"
export MOBIQUANT_VALIDATION=1 MOBIQUANT_PIPELINE_CACHE=0
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
unset MOBIQUANT_MODEL
die() { echo "FAIL: $*" >&2; exit 1; }

run_app() {  # run_app ARGS...: the app in a fresh 1280x800 X server; stderr to $work/stderr.txt
    timeout 120 xvfb-run -a -s "-screen 0 1280x800x24" "$mq" gui --device llvmpipe \
        --screenshot-dir "$work/shots" "$@" 2> >(tee "$work/stderr.txt" >&2)
}

# Distinct colours in a PNG (a blank window has 1 or 2; the idle UI about 35).
colours() { identify -format '%k' "$1"; }

case "$mode" in
nodisplay)
    env -u DISPLAY -u WAYLAND_DISPLAY "$mq" gui --frames 2 2> "$work/stderr.txt"
    rc=$?
    cat "$work/stderr.txt"
    [ $rc -eq 1 ] || die "exit code $rc without a display, expected 1"
    grep -q "DISPLAY is not set" "$work/stderr.txt" || die "no readable message about DISPLAY"
    ;;
missing)
    printf 'wait 1.5\nscreenshot missing\nquit\n' > "$work/script.txt"
    run_app --model "$work/no-such-model.gguf" --script "$work/script.txt"
    rc=$?
    [ $rc -eq 0 ] || die "exit code $rc with a missing model (3 = validation messages)"
    grep -q "model failed: model .*no-such-model.gguf not found" "$work/stderr.txt" ||
        die "the missing model was not reported"
    n=$(colours "$work/shots/missing.png") || die "no screenshot"
    [ "$n" -gt 12 ] || die "screenshot has only $n colours"
    ;;
chat)
    model=$("$writer" "$work") || die "could not write the test model"
    cat > "$work/script.txt" <<'SCRIPT'
timeout 45
wait_model
set seed 11
set max_tokens 64
slider 8.0
screenshot ready
type Hello, tell me a story
click send
wait_tokens 16
slider 2.0
wait_tokens 50
screenshot generating
wait_idle
hover_token -3
wait 0.3
screenshot tooltip
quit
SCRIPT
    SECONDS=0
    run_app --model "$model" --script "$work/script.txt" --log "$work/tokens.jsonl"
    rc=$?
    echo "app ran ${SECONDS} s"
    [ $rc -eq 0 ] || die "exit code $rc (2 = script failed, 3 = validation messages)"
    n=$(wc -l < "$work/tokens.jsonl")
    [ "$n" -ge 50 ] || die "only $n tokens were generated"
    # Bits achieved while the slider was at 8 and after it moved to 2 (the first two tokens after
    # the move may still use depths chosen before it).
    read -r hi lo < <(awk '
        { match($0, /"bits":[0-9.]+/); b = substr($0, RSTART + 7, RLENGTH - 7)
          match($0, /"target":[0-9.]+/); t = substr($0, RSTART + 9, RLENGTH - 9)
          if (t + 0 > 7.9) { hs += b; hn++ } else if (t + 0 < 2.1) { if (++seen > 2) { ls += b; ln++ } } }
        END { printf "%.3f %.3f\n", hn ? hs / hn : 0, ln ? ls / ln : 99 }' "$work/tokens.jsonl")
    echo "mean bits at target 8: $hi, at target 2: $lo"
    awk -v h="$hi" 'BEGIN { exit !(h >= 7.5) }' || die "bits at target 8 were $hi"
    awk -v l="$lo" 'BEGIN { exit !(l <= 2.5) }' || die "bits did not follow the slider to 2: $lo"
    for s in ready generating tooltip; do
        n=$(colours "$work/shots/$s.png") || die "no screenshot $s"
        echo "screenshot $s: $n colours"
        [ "$n" -gt 12 ] || die "screenshot $s looks blank ($n colours)"
    done
    ;;
*) die "unknown mode $mode" ;;
esac
echo PASS
