#!/usr/bin/env bash
# One command for a machine with a real GPU: builds (if needed), lists the Vulkan devices, runs
# the kernel and runtime tests (native and discrete memory model) on the first device, then the
# kernel benchmark in both mat-vec layouts and the model benchmark on the Llama-3.2-1B shape,
# and prints one summary: GB/s per depth against the measured read bandwidth, decode tokens/s
# per depth, queue submissions per decode step.
#
#   tools/gpu_check.sh [--quick]      (--quick: a shorter model benchmark)
# Environment: MOBIQUANT_DEVICE picks the device (index or name part), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
OUT=${OUT:-$(mktemp -d)}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

if [ ! -x "$BUILD_DIR/bin/mobiquant" ]; then
  echo "== building ($BUILD_DIR)"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DMQ_BUILD_GUI=OFF >"$OUT/cmake.log" 2>&1 ||
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target mobiquant test_kernels test_runtime >"$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/build.log"; exit 1; }
fi
MQ="$BUILD_DIR/bin/mobiquant"

echo "== devices"
"$MQ" devices

echo "== kernel and runtime tests (native and discrete memory model)"
tests_rc=0
for t in test_kernels test_runtime; do
  bin=$(find "$BUILD_DIR/tests" -type f -name "$t" -perm -u+x | head -1)
  for model in native discrete; do
    if MOBIQUANT_MEMORY_MODEL=$model "$bin" >"$OUT/$t-$model.log" 2>&1; then r=passed; else r=FAILED; tests_rc=1; fi
    echo "  $t ($model memory): $r  $(grep -E '^\[doctest\] test cases' "$OUT/$t-$model.log" || true)"
  done
done

echo "== bench-kernels"
"$MQ" bench-kernels --layout subgroups --json >"$OUT/kernels_subgroups.json"
"$MQ" bench-kernels --layout lanes --json >"$OUT/kernels_lanes.json"

echo "== bench (llama-3.2-1b shape, random weights)"
if [ "$QUICK" = 1 ]; then bench_args=(--prefill 16 --decode 16 --depths-only); else
  bench_args=(--prefill 64 --decode 32); fi
"$MQ" bench --synthetic llama-3.2-1b "${bench_args[@]}" --json >"$OUT/bench_1b.json"

python3 - "$OUT" "$tests_rc" <<'PY'
import json, sys, os
out, rc = sys.argv[1], int(sys.argv[2])
print("\n================ GPU check summary ================")
for layout in ("subgroups", "lanes"):
    k = json.load(open(os.path.join(out, f"kernels_{layout}.json")))
    bw = k["stream_read_gbs"]
    print(f"\nbench-kernels, layout {layout} on {k['device']} (streaming read {bw:.1f} GB/s)")
    for r in k["results"]:
        if r.get("tokens", 1) > 1: continue
        name = f"depth {r['depth']}" if "depth" in r else r["kind"]
        print(f"  {r['n']}x{r['k']:<6} {name:<12} {r['gbs']:8.1f} GB/s  {100*r['gbs']/bw:5.0f}% of read")
b = json.load(open(os.path.join(out, "bench_1b.json")))
print(f"\nbench {b['model']} on {b['device']} (streaming read {b['stream_read_gbs']:.1f} GB/s)")
for r in b["results"]:
    bound = b["stream_read_gbs"] * 1e9 / r["weight_bytes_per_token"] if r.get("weight_bytes_per_token") else 0
    print(f"  {r['config']:<7} decode {r['decode_tps']:8.2f} t/s  prefill {r['prefill_tps']:8.1f} t/s"
          f"  {r['weight_gbs']:7.1f} GB/s  weight-bytes bound {bound:8.1f} t/s"
          f"  submits/token {r['submits_per_token']:.1f}")
print(f"\ntests: {'passed' if rc == 0 else 'FAILED (rc %d)' % rc}; logs and JSON in {out}")
PY
exit "$tests_rc"
