#!/usr/bin/env bash
# Server throughput with 1, 2 and 4 sequences decoding together: starts `mobiquant serve` with
# --parallel P, lets P clients send greedy requests at once (tools/serve_bench.mjs), prints
# tokens/s and requests/s of a warm-up round and a measured round for each P.
# usage: tools/bench_serve.sh [-m MODEL] [--requests R] [--tokens T] [--parallel "1 2 4"] [-- SERVE_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
mq=${MOBIQUANT:-build/bin/mobiquant}
model=() requests=3 tokens=64 parallel="1 2 4" extra=()
while [ $# -gt 0 ]; do
    case $1 in
        -m) model=(-m "$2"); shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --parallel) parallel=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
log=$(mktemp)
trap 'kill "$pid" 2> /dev/null; rm -f "$log"' EXIT
for p in $parallel; do
    "$mq" serve "${model[@]}" --port 0 --parallel "$p" "${extra[@]}" > "$log" 2>&1 &
    pid=$!
    url=
    for _ in $(seq 600); do  # a large model takes a while to load
        url=$(sed -n 's/^listening on \(.*\)$/\1/p' "$log")
        [ -n "$url" ] && break
        kill -0 "$pid" 2> /dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.5
    done
    [ -n "$url" ] || { echo "the server did not start: $(cat "$log")" >&2; exit 1; }
    case $url in http*) ;; *) url="http://$url" ;; esac
    echo "parallel $p, on $(sed -n 's/.* parallel sequences on \(.*\)); Ctrl-C stops\./\1/p' "$log")"
    echo -n "  warm-up:  "; node tools/serve_bench.mjs "$url" "$p" 1 "$tokens"
    echo -n "  measured: "; node tools/serve_bench.mjs "$url" "$p" "$requests" "$tokens"
    kill "$pid"; wait "$pid" 2> /dev/null || true
done
