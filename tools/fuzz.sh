#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang in build-fuzz/ and runs each
# for a bounded time. Usage: tools/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Seeds: tests/fuzz/seeds/<target without fuzz_>/ plus, for the file readers, the malformed
# corpus in tests/formats/malformed/. Findings land in build-fuzz/fuzz-artifacts/; the script
# exits non-zero if any target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

# clang and its fuzzer runtime are needed here only, not by CI.
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMQ_FUZZ=ON -DMQ_BUILD_GUI=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then  # every target tests/fuzz/CMakeLists.txt defines
  mapfile -t targets < <(cmake --build build-fuzz --target help | sed -n 's/^\.\.\. \(fuzz_[a-z0-9_]*\).*/\1/p')
fi
cmake --build build-fuzz -j"${MQ_JOBS:-2}" --target "${targets[@]}"

mkdir -p build-fuzz/fuzz-artifacts
status=0
for t in "${targets[@]}"; do
  kind="${t#fuzz_}"
  corpus="build-fuzz/fuzz-corpus/$kind"   # grows across runs
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/seeds/$kind" ] && seeds+=("tests/fuzz/seeds/$kind")
  case "$kind" in
    gguf) cp -n tests/formats/malformed/*.gguf "$corpus"/ 2>/dev/null || true ;;
    safetensors) cp -n tests/formats/malformed/*.safetensors "$corpus"/ 2>/dev/null || true ;;
  esac
  echo "== $t for ${seconds}s"
  if ! "build-fuzz/bin/$t" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/fuzz-artifacts/$t-" 2>"build-fuzz/$t.log"; then
    echo "!! $t found a problem: see build-fuzz/$t.log and build-fuzz/fuzz-artifacts/"
    tail -n 40 "build-fuzz/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/$t.log" | sed 's/^/   /'
  fi
done
exit $status
