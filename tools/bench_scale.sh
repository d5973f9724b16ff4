#!/usr/bin/env bash
# Scale benchmark: for random-weight models with real shapes (Llama-3.2-1B body with a 32k
# vocabulary, Qwen2.5-0.5B, Llama-3-8B), prints quantize wall time and peak RSS, and for
# `generate` on the checkpoint and on the plain file the time from start to the first token and
# the peak RSS (GNU time). One summary table at the end.
#
#   tools/bench_scale.sh [--shapes "1b 0.5b 8b"] [--type f16] [--skip-quantize]
#                        [--checkpoint SHAPE=FILE] [--skip-8b] [--cache DIR] [--bin MOBIQUANT]
#
#   --skip-quantize      do not run quantize; the checkpoint row uses --checkpoint's file, else
#                        a `synth --sliced` checkpoint of the same weights (min/max slices, no
#                        routers: measures the load, not the calibration)
#   --checkpoint S=FILE  a pre-made checkpoint for shape S (1b, 0.5b or 8b)
#   QUANTIZE_ARGS        extra options for `mobiquant quantize` (e.g. "--calib-tokens 512")
#   GENERATE_ARGS        extra options for every `mobiquant generate` (e.g. "--context 512")
#   --shapes tiny        the bundled model's shape with random weights: checks the script in
#                        seconds
#
# Synthetic files are cached in --cache (default: $XDG_CACHE_HOME/mobiquant/bench-scale). The 8B
# shape is skipped, with the reason printed, when the disk or the RAM is short.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin/mobiquant"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mobiquant/bench-scale"
shapes="1b 0.5b 8b"
type=f16
skip_quantize=0
skip_8b=0
declare -A premade=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --shapes) shapes="$2"; shift 2 ;;
        --type) type="$2"; shift 2 ;;
        --skip-quantize) skip_quantize=1; shift ;;
        --skip-8b) skip_8b=1; shift ;;
        --checkpoint) premade["${2%%=*}"]="${2#*=}"; shift 2 ;;
        --cache) cache="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -x "$bin" ]] || { echo "no $bin: build first (cmake --build build)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
mkdir -p "$cache"

shape_name() {
    case "$1" in
        1b) echo llama-3.2-1b-32k ;;
        0.5b) echo qwen2.5-0.5b ;;
        8b) echo llama-3-8b ;;
        tiny) echo default ;;
        *) echo "unknown shape $1 (1b, 0.5b, 8b, tiny)" >&2; exit 2 ;;
    esac
}

# Bytes of weights per shape at 2 bytes a weight, for the disk and RAM checks (8B: ~16 GB).
need_gb() {
    case "$1" in 1b) echo 3 ;; 0.5b) echo 2 ;; 8b) echo 17 ;; *) echo 1 ;; esac
}

rows=()
row() { rows+=("$(printf '%-6s %-46s %8s %9s  %s' "$1" "$2" "$3" "$4" "$5")"); }

# Runs a command under GNU time; sets secs and rss_gb. Output goes to $log.
measure() {
    local log="$1"; shift
    local t0 t1
    t0=$(date +%s.%N)
    if /usr/bin/time -v "$@" >"$log" 2>&1; then status=ok; else status="failed (see $log)"; fi
    t1=$(date +%s.%N)
    secs=$(printf '%.1f' "$(echo "$t1 - $t0" | bc)")
    local kb
    kb=$(grep -m1 'Maximum resident set size' "$log" | awk '{print $NF}')
    rss_gb=$(printf '%.2f' "$(echo "scale=3; ${kb:-0} / 1048576" | bc)")
    cpu=$(grep -E 'User time|System time' "$log" | awk '{s += $NF} END {printf "%.0f", s}')
}

for s in $shapes; do
    name=$(shape_name "$s")
    plain="$cache/$name-$type.gguf"
    if [[ "$s" == 8b ]]; then
        if [[ $skip_8b == 1 ]]; then echo "== $name: skipped (--skip-8b)"; continue; fi
        free_disk=$(df -BG --output=avail "$cache" | tail -1 | tr -dc 0-9)
        avail_ram=$(awk '/MemAvailable/ {printf "%d", $2 / 1048576}' /proc/meminfo)
        if [[ ! -f "$plain" && $free_disk -lt $(( $(need_gb 8b) * 2 )) ]]; then
            echo "== $name: skipped: $free_disk GB free on $cache, the plain file and its checkpoint need about $(( $(need_gb 8b) * 2 )) GB"
            continue
        fi
        if [[ $avail_ram -lt $(( $(need_gb 8b) + 2 )) ]]; then
            echo "== $name: skipped: $avail_ram GiB of RAM available, generate on the plain file needs more than $(need_gb 8b) GiB"
            continue
        fi
    fi
    echo "== $name"
    if [[ ! -f "$plain" ]]; then
        echo "writing $plain (cached for later runs)"
        "$bin" synth --shape "$name" --type "$type" -o "$plain"
    fi

    ckpt="${premade[$s]:-}"
    if [[ -z "$ckpt" && $skip_quantize == 0 ]]; then
        ckpt="$cache/$name-$type.mobiquant.gguf"
        # shellcheck disable=SC2086 # QUANTIZE_ARGS is a list of options
        measure "$cache/$name.quantize.log" "$bin" quantize -m "$plain" -o "$ckpt" ${QUANTIZE_ARGS:-}
        row "$s" "quantize ${QUANTIZE_ARGS:-}" "$secs" "$rss_gb" "$status, ${cpu} CPU s"
        [[ $status == ok ]] || ckpt=""
    fi
    if [[ -z "$ckpt" ]]; then
        ckpt="$cache/$name.sliced.gguf"
        if [[ ! -f "$ckpt" ]]; then
            echo "writing $ckpt (min/max slices of the same weights, no routers)"
            "$bin" synth --shape "$name" --sliced -o "$ckpt"
        fi
    fi

    # Start to first token: generate one token.
    # shellcheck disable=SC2206 # GENERATE_ARGS is a list of options
    gen=("$bin" generate -p "Once upon a time" -n 1 ${GENERATE_ARGS:-})
    if [[ -f "$ckpt" ]]; then
        measure "$cache/$name.gen-ckpt.log" "${gen[@]}" -m "$ckpt" --depth 2
        row "$s" "generate $(basename "$ckpt") --depth 2" "$secs" "$rss_gb" "$status, ${cpu} CPU s"
    fi
    measure "$cache/$name.gen-plain.log" "${gen[@]}" -m "$plain"
    row "$s" "generate $(basename "$plain")" "$secs" "$rss_gb" "$status, ${cpu} CPU s"
    measure "$cache/$name.gen-plain-d2.log" "${gen[@]}" -m "$plain" --depth 2
    row "$s" "generate $(basename "$plain") --depth 2" "$secs" "$rss_gb" "$status, ${cpu} CPU s"
done

echo
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB RAM, $(date -u +%Y-%m-%d)"
printf '%-6s %-46s %8s %9s  %s\n' shape step "wall s" "peak GiB" "status"
for r in "${rows[@]}"; do echo "$r"; done
