#!/usr/bin/env bash
# The desktop app under Xvfb on lavapipe, driven by a --script of UI actions.
# usage: run_gui_test.sh MOBIQUANT WRITE_MODEL chat|chat_cpu|missing|nodisplay|quality|quantize WORKDIR
set -uo pipefail
mq=$1 writer=$2 mode=$3 work=$4
source "$(dirname "$0")/../support/program_test_env.sh"
mkdir -p "$work/shots"

device=llvmpipe  # where the models run (chat_cpu: the CPU backend; the window draws on llvmpipe)
[ "$mode" = chat_cpu ] && device=cpu
run_app() {  # run_app ARGS...: the app in a fresh 1280x800 X server; stderr to $work/stderr.txt
    timeout 120 xvfb-run -a -s "-screen 0 1280x800x24" "$mq" gui --device $device \
        --screenshot-dir "$work/shots" "$@" 2> >(tee "$work/stderr.txt" >&2)
}

# Distinct colours in a PNG (a blank window has 1 or 2; the idle UI about 35).
colours() { identify -format '%k' "$1"; }
# Pixels of one exact colour (a plot series: the UI theme uses none of these).
pixels_of() { convert "$1" -fill black +opaque "$2" -fill white -opaque "$2" -format '%[fx:round(mean*w*h)]' info:; }
shot_ok() {  # shot_ok NAME: the screenshot exists and is not blank
    local n
    n=$(colours "$work/shots/$1.png") || die "no screenshot $1"
    echo "screenshot $1: $n colours"
    [ "$n" -gt 12 ] || die "screenshot $1 looks blank ($n colours)"
}

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
chat | chat_cpu)
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
    want=llvmpipe && [ "$mode" = chat_cpu ] && want="on CPU"
    grep "model ready" "$work/stderr.txt" | grep -q "$want" || die "the model did not run on $device"
    ;;
quality)
    # A quality table written by hand beside the test model (what `mobiquant eval --save` writes):
    # the view must draw the routed curve, the uniform-depth and bit-specific points and the
    # numbers.
    model=$("$writer" "$work") || die "could not write the test model"
    cat > "${model%.gguf}.quality.json" <<'JSON'
{"model": "tiny-test-mobiquant.gguf", "text": "heldout.txt", "tokens": 2048, "fp_ppl": 48.1,
 "uniform": [{"bits": 2, "ppl": 612}, {"bits": 4, "ppl": 66.0}, {"bits": 6, "ppl": 49.4},
             {"bits": 8, "ppl": 48.3}],
 "bit_specific": [{"bits": 2, "ppl": 590}, {"bits": 4, "ppl": 65.1}, {"bits": 6, "ppl": 49.3},
                  {"bits": 8, "ppl": 48.3}],
 "routed": [{"budget": 2.0, "bits": 2.00, "ppl": 612}, {"budget": 2.5, "bits": 2.52, "ppl": 262},
            {"budget": 3.0, "bits": 3.01, "ppl": 141}, {"budget": 3.5, "bits": 3.49, "ppl": 93.5},
            {"budget": 4.0, "bits": 4.02, "ppl": 64.1}, {"budget": 4.5, "bits": 4.51, "ppl": 57.3},
            {"budget": 5.0, "bits": 4.98, "ppl": 53.4}, {"budget": 5.5, "bits": 5.52, "ppl": 51.0},
            {"budget": 6.0, "bits": 6.01, "ppl": 49.2}, {"budget": 6.5, "bits": 6.49, "ppl": 48.8},
            {"budget": 7.0, "bits": 7.03, "ppl": 48.5}, {"budget": 7.5, "bits": 7.51, "ppl": 48.36},
            {"budget": 8.0, "bits": 8.00, "ppl": 48.3}],
 "random": [{"bits": 2.00, "ppl": 612}, {"bits": 2.52, "ppl": 395}, {"bits": 3.01, "ppl": 236},
            {"bits": 3.49, "ppl": 150}, {"bits": 4.02, "ppl": 66.3}, {"bits": 4.51, "ppl": 61.9},
            {"bits": 4.98, "ppl": 58.2}, {"bits": 5.52, "ppl": 54.4}, {"bits": 6.01, "ppl": 49.5},
            {"bits": 6.49, "ppl": 49.2}, {"bits": 7.03, "ppl": 48.9}, {"bits": 7.51, "ppl": 48.6},
            {"bits": 8.00, "ppl": 48.3}],
 "mix": [{"bits": 2.00, "ppl": 612}, {"bits": 2.52, "ppl": 330}, {"bits": 3.01, "ppl": 190},
         {"bits": 3.49, "ppl": 118}, {"bits": 4.02, "ppl": 66.1}, {"bits": 4.51, "ppl": 60.1},
         {"bits": 4.98, "ppl": 56.4}, {"bits": 5.52, "ppl": 52.6}, {"bits": 6.01, "ppl": 49.4},
         {"bits": 6.49, "ppl": 49.0}, {"bits": 7.03, "ppl": 48.7}, {"bits": 7.51, "ppl": 48.45},
         {"bits": 8.00, "ppl": 48.3}]}
JSON
    # Every point also gets a KL from full precision (what eval measures beside perplexity).
    perl -pi -e 's/"ppl": ([0-9.]+)\}/sprintf("\"ppl\": %s, \"kl\": %.6f}", $1, log($1 \/ 48.1) + 1e-4)/ge' \
        "${model%.gguf}.quality.json"
    cat > "$work/script.txt" <<'SCRIPT'
timeout 30
wait_model
click tab_quality
wait 0.5
screenshot quality
click quality_kl
wait 0.5
screenshot quality_kl
quit
SCRIPT
    run_app --model "$model" --script "$work/script.txt"
    rc=$?
    [ $rc -eq 0 ] || die "exit code $rc (2 = script failed, 3 = validation messages)"
    grep -q "could not be read" "$work/stderr.txt" && die "the table was not read"
    shot_ok quality
    # The plot's series colours (quality_view.cpp): routed blue, uniform orange, bit-specific pink.
    for c in 'rgb(80,170,255)' 'rgb(255,150,60)' 'rgb(230,90,200)'; do
        n=$(pixels_of "$work/shots/quality.png" "$c")
        echo "pixels of $c: $n"
        [ "$n" -ge 40 ] || die "the plot lacks the series drawn in $c ($n pixels)"
    done
    # Switched to KL: the routed curve is still drawn, on a different y axis.
    shot_ok quality_kl
    n=$(pixels_of "$work/shots/quality_kl.png" 'rgb(80,170,255)')
    [ "$n" -ge 40 ] || die "the KL plot lacks the routed curve ($n pixels)"
    cmp -s "$work/shots/quality.png" "$work/shots/quality_kl.png" && die "the KL switch changed nothing"
    ;;
server)
    # The Models panel's server: started on a free port it answers /health and /v1/models (with
    # the panel's model), and stopped it no longer listens.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$work/script.txt" <<SCRIPT
timeout 40
wait_model
click tab_models
wait 0.3
set server_port $port
click server_start
wait 8
screenshot server
click server_stop
wait 1
quit
SCRIPT
    (for _ in $(seq 1 70); do
        if curl -sf "http://127.0.0.1:$port/health" > "$work/health.json" &&
            curl -sf "http://127.0.0.1:$port/v1/models" > "$work/models.json"; then break; fi
        sleep 0.1
    done) &
    client=$!
    run_app --script "$work/script.txt"
    rc=$?
    wait $client
    [ $rc -eq 0 ] || die "exit code $rc (2 = script failed, 3 = validation messages)"
    grep -q '"status":"ok"' "$work/health.json" || die "the server did not answer /health"
    grep -q '"object":"model"' "$work/models.json" || die "the server did not list its model"
    shot_ok server
    curl -s "http://127.0.0.1:$port/health" > /dev/null && die "the server still listens after stop"
    ;;
quantize)
    # The Models panel's quantize offer on a plain model: bad input (more calibration tokens than
    # the text has) fails at once with a message; start, see progress, cancel (nothing is
    # written); start again with fewer tokens and let it finish; open the checkpoint; then ask the
    # Quality tab (no table yet) to run the eval job.
    model=$("$writer" "$work") || die "could not write the test model"
    ckpt="$work/quantized.gguf" cancelled="$work/cancelled.gguf"
    cat > "$work/script.txt" <<SCRIPT
timeout 40
wait_model
click tab_models
wait 0.3
screenshot models
set quantize_out $cancelled
set quantize_tokens 9000000
click quantize
wait_job quantize failed
screenshot quantize_error
set quantize_tokens 1024
click quantize
wait_job quantize progress
screenshot quantize_running
click cancel_quantize
wait_job quantize cancelled
set quantize_out $ckpt
set quantize_tokens 256
click quantize
wait_job quantize done
screenshot quantize_done
click open_quantized
wait 0.5
wait_model
click tab_quality
wait 0.3
set eval_tokens 32
click run_eval
wait_job eval ended
wait 0.3
screenshot eval
quit
SCRIPT
    SECONDS=0
    run_app --model "$model" --script "$work/script.txt"
    rc=$?
    echo "app ran ${SECONDS} s"
    [ $rc -eq 0 ] || die "exit code $rc (2 = script failed, 3 = validation messages)"
    grep -q "gui: quantize failed after .*: .*calibration text" "$work/stderr.txt" ||
        die "asking for more calibration tokens than the text has gave no readable error"
    grep -q "gui: quantize cancelled" "$work/stderr.txt" || die "the quantize job was not cancelled"
    [ -e "$cancelled" ] && die "the cancelled job left $cancelled"
    ls "$work" | grep -q '\.tmp-' && die "a temporary file was left: $(ls "$work")"
    [ -s "$ckpt" ] || die "the second quantize wrote no checkpoint"
    grep -q "model ready: .*MoBiQuant checkpoint" "$work/stderr.txt" ||
        die "the new checkpoint did not open as a MoBiQuant checkpoint"
    # The eval job either made the table (then the view reads it) or failed with its message
    # shown (the job is still being built in the engine).
    table="${ckpt%.gguf}.quality.json"
    if grep -q "gui: eval done" "$work/stderr.txt"; then
        [ -s "$table" ] || die "eval reported done but wrote no $table"
        n=$(pixels_of "$work/shots/eval.png" 'rgb(80,170,255)')
        [ "$n" -ge 40 ] || die "the quality view did not draw the new table's routed curve ($n pixels)"
    else
        grep -q "gui: eval failed after .*: ." "$work/stderr.txt" || die "eval neither finished nor failed with a message"
    fi
    for s in models quantize_error quantize_running quantize_done eval; do shot_ok $s; done
    ;;
*) die "unknown mode $mode" ;;
esac
echo PASS
