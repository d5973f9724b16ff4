#!/bin/sh
# Regenerates tests/runtime_ref/fixtures/*.json: writes the tiny fixture models with the C++
# generator, then records their logits with the independent torch oracle.
#   tools/check/make_fixtures.sh [BUILD_DIR]      (default build-ref)
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
