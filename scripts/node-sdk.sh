#!/usr/bin/env bash
# Installs (or reuses) PortOne's official npm server SDK, pinned, into the cargo target directory
# (${CARGO_TARGET_DIR:-target}/node-sdk), for services/portone-sandbox/tests/official_sdk_npm.rs,
# which runs this on first use (npm needs its registry then).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
dir="$target/node-sdk"
version="0.19.0"
manifest="$dir/node_modules/@portone/server-sdk/package.json"

ready() { [ -f "$manifest" ] && grep -q "\"version\": \"$version\"" "$manifest"; }
ready && exit 0
mkdir -p "$dir"
# Several tests may ask at once: one installs, the others wait for it.
exec 9>"$target/.node-sdk.lock"
flock 9
ready && exit 0
cd "$dir"
[ -f package.json ] || printf '{"name": "paybridge-node-sdk", "private": true}\n' >package.json
npm install --no-audit --no-fund --silent --save-exact "@portone/server-sdk@$version"
echo "[node-sdk] ready: $dir" >&2
