#!/usr/bin/env bash
# Creates (or reuses) the Python venv the OpenAPI conformance tests run their tools from:
# schemathesis, openapi-spec-validator and openapi-python-client, and PortOne's official V1 client
# iamport-rest-client and V2 SDK portone-server-sdk, pinned so CI is repeatable.
# It lives in the cargo target directory (${CARGO_TARGET_DIR:-target}/python-venv), where the
# tests look for it. Used by .ci/run before `cargo test --workspace`, and by the tests themselves
# (crates/testkit/src/python.rs) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
venv="$target/python-venv"
# Keep in step with services/portone-gateway/tests/conformance.rs.
requirements=(
  "schemathesis==4.32.5"
  "openapi-spec-validator==0.9.0"
  "openapi-python-client==0.29.1"
  # PortOne's official V1 client, driven against portone-sandbox (portone-sandbox/tests/official_client.rs).
  "iamport-rest-client==0.9.0"
  # PortOne's official V2 server SDK, the same against the sandbox's V2 listener (tests/official_sdk.rs).
  "portone-server-sdk==0.21.0"
)
stamp="$venv/.requirements"
# pyenv shims exist for versions that are not installed: take the first that runs.
for candidate in python3.12 python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 python3; do
  if "$candidate" -c 'import sys' >/dev/null 2>&1; then default_python=$candidate; break; fi
done
wanted=$(printf '%s\n' "${requirements[@]}")

ready() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; }
ready && exit 0
mkdir -p "$target"
# Tests call this on first use, several at once: one creates the venv, the others wait for it.
exec 9>"$target/.python-venv.lock"
flock 9
ready && exit 0
# Python 3.11.7's ast.parse can fail inside hypothesis ("AST constructor recursion depth
# mismatch"); a newer interpreter is preferred when the machine has one.
python=${PYTHON:-$default_python}
"$python" -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
printf '%s\n' "$wanted" >"$stamp"
echo "[python-venv] ready: $venv" >&2
