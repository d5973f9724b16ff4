#!/bin/sh
# Regenerates tests/runtime_ref/fixtures/*.json: writes the tiny fixture models with the C++
# generator, then records their logits with the independent torch oracle.
#   tools/check/make_fixtures.sh [BUILD_DIR]      (default build-ref)
# When assets/default-model.gguf exists, default_model.json is recorded for it too (the test
# compares only while the file's hash matches).
# Needs Debian's python3-torch and python3-numpy (/usr/bin/python3).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build-ref}
cmake --build "$BUILD" --target mq_write_tiny_models
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD"/bin/mq_write_tiny_models "$TMP" | while read -r name path; do
    /usr/bin/python3 tools/check/reference_logits.py "$path" --extra "$TMP/$name.extra.json" \
        --out "tests/runtime_ref/fixtures/$name.json"
done

MODEL=assets/default-model.gguf
if [ -f "$MODEL" ]; then
    HASH=$("$BUILD"/bin/mq_write_tiny_models --hash "$MODEL")
    printf '{"name": "default_model", "asset": "%s", "gguf_fnv1a64": "%s"}\n' "$MODEL" "$HASH" \
        > "$TMP/default.extra.json"
    /usr/bin/python3 tools/check/reference_logits.py "$MODEL" --extra "$TMP/default.extra.json" \
        --ids "1 17 290 42 42 3 150 299 7 260 1000 31" --out tests/runtime_ref/fixtures/default_model.json
fi
