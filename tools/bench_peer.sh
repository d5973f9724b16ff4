#!/usr/bin/env bash
# MoBiQuant's CPU backend against llama.cpp's CPU backend (node-llama-cpp's prebuilt binaries,
# pinned in tools/peer/package-lock.json) on the same random-weight model with a real model's
# shapes: prefill and decode tokens/s, same prompt and decode lengths, same thread count, in one
# side-by-side table. The GGUF files (Q4_0, Q8_0, F16) are written once by `mobiquant synth` and
# kept in the work folder (about 2.5 GB each for the 1B shape; --clean deletes them at the end).
#
# usage: tools/bench_peer.sh [--shape llama-3.2-1b] [--prompt 64] [--decode 32] [--threads 2]
#                            [--repeat 3] [--work /tmp/mobiquant-peer] [--types "q4_0 q8_0 f16"]
#                            [--clean]
# Every figure is the fastest of --repeat runs (a shared machine's load comes and goes).
# Environment: MOBIQUANT (default build/bin/mobiquant). Network: only the first npm install.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mq=${MOBIQUANT:-$root/build/bin/mobiquant}
shape=llama-3.2-1b prompt=64 decode=32 threads=2 repeat=3 work=/tmp/mobiquant-peer
types="q4_0 q8_0 f16" clean=0
while [ $# -gt 0 ]; do
    case "$1" in
    --shape) shape=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --decode) decode=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --clean) clean=1; shift ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ -x "$mq" ] || { echo "build mobiquant first ($mq not found)" >&2; exit 1; }
case " $types " in *" q4_0 "*) ;; *) echo "--types must include q4_0 (the file mobiquant reads)" >&2; exit 2 ;; esac
mkdir -p "$work"

peer=$root/tools/peer
if [ ! -d "$peer/node_modules/node-llama-cpp" ]; then
    echo "installing node-llama-cpp (npm ci, CPU binaries only)..." >&2
    # npm 10+ refuses `npm ci` when node-llama-cpp's optional packages for other platforms are
    # not in the lock (a registry that lacks them cannot lock them); `npm install --no-save`
    # installs the same locked versions without rewriting the lock.
    (cd "$peer" && export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true &&
        { npm ci --omit=optional --no-audit --no-fund --loglevel=error >&2 ||
          npm install --no-save --omit=optional --no-audit --no-fund --loglevel=error >&2; })
fi

for t in $types; do
    f=$work/$shape-$t.gguf
    [ -f "$f" ] || "$mq" synth --shape "$shape" --type "$t" -o "$f" >&2
done

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);
    console.log(process.argv[1].split(".").reduce((a,k)=>a[k],o))})' "$1"; }

declare -A peer_prefill peer_decode
for t in $types; do
    echo "llama.cpp $t: running..." >&2
    out=$(node "$peer/bench_llama.mjs" "$work/$shape-$t.gguf" "$prompt" "$decode" "$threads" "$repeat")
    peer_prefill[$t]=$(echo "$out" | json_field prefill_tps)
    peer_decode[$t]=$(echo "$out" | json_field decode_tps)
done

# The output head read at 8 bits (as the Vulkan bench) and at 4 bits (as the Q4_0 file's).
for head in 8bit 4bit; do
    echo "mobiquant --device cpu --head $head: slicing the q4_0 file and running..." >&2
    /usr/bin/time -v -o "$work/time-$head.txt" "$mq" bench --device cpu --threads "$threads" \
        -m "$work/$shape-q4_0.gguf" --depths-only --head $head --prefill "$prompt" \
        --decode "$decode" --repeat "$repeat" --json > "$work/mobiquant-$head.json"
done
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time-8bit.txt")

node - "$work/mobiquant-8bit.json" "$work/mobiquant-4bit.json" "$rss_kb" "$shape" "$prompt" "$decode" "$threads" \
    "$(for t in $types; do printf '%s=%s=%s ' "$t" "${peer_prefill[$t]}" "${peer_decode[$t]}"; done)" <<'NODE'
const fs = require("fs");
const [file8, file4, rssKb, shape, prompt, decode, threads, peerArg] = process.argv.slice(2);
const m = JSON.parse(fs.readFileSync(file8, "utf8"));
const m4 = JSON.parse(fs.readFileSync(file4, "utf8"));
const peer = Object.fromEntries(peerArg.trim().split(" ").map((s) => {
    const [t, p, d] = s.split("=");
    return [t, {prefill: +p, decode: +d}];
}));
console.log(`${shape}, prompt ${prompt} tokens, decode ${decode} tokens, ${threads} threads, ` +
            "fastest of the repeats");
console.log(`mobiquant: ${m.device}, memory read ${m.stream_read_gbs.toFixed(1)} GB/s, ` +
            `peak RSS ${(rssKb / 1048576).toFixed(2)} GiB (bench process, 8-bit head)\n`);
const row = (a, b, c, d, e) => console.log(a.padEnd(28) + b.padStart(13) + c.padStart(12) +
                                           d.padStart(11) + e.padStart(13));
row("engine / config", "prefill t/s", "decode t/s", "MB/token", "weight GB/s");
for (const [t, v] of Object.entries(peer))
    row(`llama.cpp ${t.toUpperCase()}`, v.prefill.toFixed(1), v.decode.toFixed(2), "", "");
for (const [run, head] of [[m, "8bit"], [m4, "4bit"]])
    for (const r of run.results)
        row(`mobiquant ${r.config} h${head}`, r.prefill_tps.toFixed(1), r.decode_tps.toFixed(2),
            (r.weight_bytes_per_token / 1e6).toFixed(0), r.weight_gbs.toFixed(2));
const q4 = peer.q4_0;
console.log("\ntargets: decode depth2 >= 2x Q4_0, depth1 >= 3x Q4_0, depth1 >= 2.5x depth4, " +
            "prefill >= Q4_0");
for (const [run, head] of [[m, "8-bit"], [m4, "4-bit"]]) {
    const d = Object.fromEntries(run.results.map((r) => [r.config, r]));
    console.log(`  ${head} head: depth1 / Q4_0 decode ${(d.depth1.decode_tps / q4.decode).toFixed(2)}x, ` +
                `depth2 / Q4_0 decode ${(d.depth2.decode_tps / q4.decode).toFixed(2)}x, ` +
                `depth1 / depth4 ${(d.depth1.decode_tps / d.depth4.decode_tps).toFixed(2)}x, ` +
                `prefill depth2 / Q4_0 ${(d.depth2.prefill_tps / q4.prefill).toFixed(2)}x`);
}
NODE

if [ "$clean" = 1 ]; then
    for t in $types; do rm -f "$work/$shape-$t.gguf"; done
fi
