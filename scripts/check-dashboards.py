#!/usr/bin/env python3
"""The Grafana dashboards under deploy/grafana/ ask only what Prometheus can answer.

Usage: check-dashboards.py --promtool PATH --out DIR [--plant-unknown-metric | --plant-bad-promql]

  promql   every panel's queries (and the variables' label_values selectors), with Grafana's
           variables replaced by values Prometheus accepts, written as recording rules to
           DIR/dashboard-rules.json (a throwaway rules file: JSON is YAML) and checked with
           `promtool check rules`: a query Prometheus would refuse fails here, not on a screen.
  metrics  every metric name a query uses is one some service exposes. The exposed set is read
           from the Rust sources (crates/*/src, services/*/src, unit tests left out): the
           registry's prefix (Registry::new_custom) joined to every name given to a prometheus
           constructor (Opts::new, HistogramOpts::new, IntGauge::new, ...); a histogram exposes
           <name>_bucket, _sum and _count. A constructor whose name is not a string literal is a
           finding, since the set could not be known. The alert rules in deploy/prometheus/ are
           held to the same set.
  compose  docker-compose.yml's monitoring profile: Prometheus's configuration
           (deploy/prometheus/prometheus-compose.yaml) scrapes, in the job "paybridge" the alert
           rules expect, every service the file builds from the Dockerfile, at the port the
           service listens on; every file a service mounts from the repository exists (Docker
           would mount a missing one as an empty directory).
  shape    every panel and query uses the dashboard's Prometheus datasource variable (so the
           dashboard works in any Grafana, whatever its datasource is called), every panel that
           shows data has a unit, panel ids are unique.

Prints what it checked; exits 1 on any finding.

  --plant-unknown-metric  misspells a metric in one panel and exits 0 only if the metrics check
                          finds that panel and nothing else: CI shows the check can fail.
  --plant-bad-promql      breaks one panel's PromQL likewise, for promtool.

Needs PyYAML (installed with yamllint) for the alert rules.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "deploy/grafana").glob("*.json"))
ALERT_RULES = [ROOT / "deploy/prometheus/paybridge-alerts.yaml"]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_PROMETHEUS = ROOT / "deploy/prometheus/prometheus-compose.yaml"
SOURCES = [p for top in ("crates", "services") for p in sorted((ROOT / top).glob("*/src/**/*.rs"))]

# Metrics no paybridge service registers, and why a query may still name them.
NOT_FROM_SERVICES = {
    "up": "Prometheus itself, one series per scrape target",
    "kube_pod_status_ready": "kube-state-metrics (alert PaybridgePodUnready)",
}
# Metrics a branch not yet merged registers. Remove an entry once main's source registers the
# name: the check says when that has happened.
PENDING = {
    # portone-gateway's count of rejected PortOne payments by reason (currency, test_payment,
    # amount_mismatch), added on wip/gw (issue 18); the alert PaybridgePaymentRejected and the
    # dashboard's "Rejected payments by reason" already use it.
    "paybridge_portone_rejected_total": "wip/gw: portone-gateway's rejected payments",
}

# Grafana's built-in interval variables, as a range Prometheus accepts.
INTERVALS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__auto": "1m"}

findings = []


def finding(kind, where, message):
    findings.append((kind, where))
    print(f"  FAIL {where}: {message}")


# ---------------------------------------------------------------- what the services expose

CONSTRUCTOR = re.compile(
    r"(?<![A-Za-z0-9_])(HistogramOpts|Opts|IntGauge|Gauge|IntCounter|Counter)::new\(\s*")
NAME = re.compile(r'"([a-zA-Z_:][a-zA-Z0-9_:]*)"')


def exposed_metrics():
    prefixes, names = set(), {}
    for path in SOURCES:
        text = path.read_text()
        if "prometheus" not in text:
            continue
        # Unit tests may register metrics of their own; no running service exposes those.
        text = re.split(r"^#\[cfg\(test\)\]\s*\nmod ", text, maxsplit=1, flags=re.M)[0]
        rel = path.relative_to(ROOT)
        prefixes.update(re.findall(r'Registry::new_custom\(\s*Some\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', text))
        for m in CONSTRUCTOR.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            name = NAME.match(text, m.end())
            if not name:
                finding("source", f"{rel}:{line}",
                        f"{m.group(1)}::new with a name that is not a string literal: the exposed "
                        "metrics cannot be read from the source (teach this check, or use a literal)")
                continue
            names[name.group(1)] = ("histogram" if m.group(1) == "HistogramOpts" else "single", f"{rel}:{line}")
    if len(prefixes) != 1:
        finding("source", "crates/platform", f"expected one registry prefix (Registry::new_custom), found {sorted(prefixes)}")
        return {}
    prefix = prefixes.pop()
    exposed = {}
    for name, (kind, where) in names.items():
        full = f"{prefix}_{name}"
        for suffix in ("_bucket", "_sum", "_count") if kind == "histogram" else ("",):
            exposed[full + suffix] = where
    return exposed


# ---------------------------------------------------------------- metric names in PromQL

TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<braces>\{[^}]*\})
  | (?P<brackets>\[[^\]]*\])
  | (?P<number>\d[\w.]*|\.\d[\w.]*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<other>.)
""", re.X | re.S)
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "inf", "nan", "atan2"}
# Aggregations may put their `by (...)` before the parenthesis: `sum by (service) (...)`.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def metric_names(expr):
    """Identifiers that name a metric: not a function or aggregation (followed by `(`), not a
    keyword, not inside a label matcher, a range or a string, not a label list of by/on/..."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr) if not m.group().isspace()]
    names, skip_list = [], False
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "other" and text == "(" and skip_list:
            depth = 0
            for j in range(i, len(tokens)):  # the label list: up to its closing parenthesis
                depth += tokens[j][1] == "("
                depth -= tokens[j][1] == ")"
                if depth == 0:
                    break
            for j in range(i, j + 1):
                tokens[j] = ("skipped", tokens[j][1])
        skip_list = False
        if kind != "ident":
            continue
        if text.lower() in KEYWORDS:
            skip_list = text in LABEL_LISTS
            continue
        if following == "(" or text in AGGREGATIONS:
            continue
        names.append(text)
    if "__name__" in expr:
        names.append("__name__ (a selector by name cannot be checked)")
    return names


# ---------------------------------------------------------------- dashboards


def substitute(expr, variables, where):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in INTERVALS:
            return INTERVALS[name]
        if name in variables:
            return variables[name]
        finding("promql", where, f"unknown variable ${name}")
        return m.group(0)

    return re.sub(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\[\[([A-Za-z_]\w*)\]\]|\$([A-Za-z_]\w*)", value, expr)


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def dashboard_queries(path, dashboard, plant):
    """(where, expr) of every query, Grafana's variables replaced; checks the dashboard's shape."""
    name = path.relative_to(ROOT)
    variables, queries = {}, []
    ds_vars = [v["name"] for v in dashboard.get("templating", {}).get("list", [])
               if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if len(ds_vars) != 1:
        finding("shape", str(name), f"needs one Prometheus datasource variable, has {ds_vars}")
        return []
    ds_ref = {"${%s}" % ds_vars[0], "$" + ds_vars[0]}
    for v in dashboard["templating"]["list"]:
        if v.get("type") == "datasource":
            continue
        if v.get("type") != "query":
            finding("shape", f"{name} variable {v.get('name')}", f"type {v.get('type')} is not checked here")
            continue
        variables[v["name"]] = v.get("allValue") or ".*"
        if (v.get("datasource") or {}).get("uid") not in ds_ref:
            finding("shape", f"{name} variable {v['name']}", "does not use the datasource variable")
        query = v.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", query)
        if not m:
            finding("shape", f"{name} variable {v['name']}", f"query {query!r} is not label_values(<selector>, <label>)")
            continue
        queries.append((f"{name} variable {v['name']}", m.group(1)))
    ids = []
    for panel in panels_of(dashboard):
        where = f"{name} panel {panel.get('id')} {panel.get('title')!r}"
        ids.append(panel.get("id"))
        if panel.get("type") == "row":
            continue
        if (panel.get("datasource") or {}).get("uid") not in ds_ref:
            finding("shape", where, "does not use the datasource variable")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            finding("shape", where, "has no unit (fieldConfig.defaults.unit)")
        targets = panel.get("targets") or []
        if not targets:
            finding("shape", where, "has no query")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") not in ds_ref:
                finding("shape", f"{where} query {t.get('refId')}", "does not use the datasource variable")
            if not t.get("expr"):
                finding("shape", f"{where} query {t.get('refId')}", "has no expr")
                continue
            queries.append((f"{where} query {t.get('refId')}", t["expr"]))
    if len(ids) != len(set(ids)):
        finding("shape", str(name), "panel ids are not unique")
    if plant and queries:
        where, expr = next((q for q in queries if "panel" in q[0]))
        if plant == "unknown-metric":
            planted = re.sub(r"\b(paybridge_\w+)", r"\1_misspelt", expr, count=1)
        else:
            planted = expr + ")"
        assert planted != expr, "nothing to plant in " + expr
        print(f"  planted in {where}: {planted}")
        queries = [(w, planted if (w, e) == (where, expr) else e) for w, e in queries]
    return [(where, substitute(expr, variables, where)) for where, expr in queries]


def check_compose():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose.get("services", {})
    for name in ("prometheus", "grafana"):
        if "monitoring" not in (services.get(name) or {}).get("profiles", []):
            finding("compose", f"docker-compose.yml {name}", "missing, or not in the profile monitoring")
    for name, spec in services.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")) and not (ROOT / source).exists():
                finding("compose", f"docker-compose.yml {name}", f"mounts {source}, which does not exist")
    config = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    targets = {t for sc in jobs.get("paybridge", {}).get("static_configs", []) for t in sc.get("targets", [])}
    if "paybridge" not in jobs:
        finding("compose", str(COMPOSE_PROMETHEUS.relative_to(ROOT)), 'no job "paybridge"')
    built = 0
    for name, spec in services.items():
        if "build" not in spec:
            continue
        built += 1
        env = spec.get("environment") or {}
        if any("METRICS_PORT" in key for key in env):
            finding("compose", f"docker-compose.yml {name}", "sets http.metrics_port: scrape that port")
        ports = {str(p).rsplit(":", 1)[-1] for p in spec.get("ports", [])}
        if not any(t.split(":")[0] == name and t.split(":")[-1] in ports for t in targets):
            finding("compose", f"docker-compose.yml {name}",
                    f"not scraped: no target {name}:<port> (ports {sorted(ports)}) in job paybridge")
    print(f"  compose: {len(targets)} scrape targets cover the {built} services built from the Dockerfile")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--promtool", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plant-unknown-metric", dest="plant", action="store_const", const="unknown-metric")
    parser.add_argument("--plant-bad-promql", dest="plant", action="store_const", const="bad-promql")
    args = parser.parse_args()

    check_compose()
    exposed = exposed_metrics()
    print(f"  exposed by the services ({len(exposed)}): {', '.join(sorted(exposed))}")
    for metric, why in PENDING.items():
        if metric in exposed:
            print(f"  note: {metric} is now registered at {exposed[metric]}: remove it from PENDING")
    known = set(exposed) | set(NOT_FROM_SERVICES) | set(PENDING)

    queries = []
    if not DASHBOARDS:
        finding("shape", "deploy/grafana", "no dashboard (*.json)")
    for path in DASHBOARDS:
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            finding("shape", str(path.relative_to(ROOT)), f"not JSON: {e}")
            continue
        found = dashboard_queries(path, dashboard, args.plant)
        print(f"  {path.relative_to(ROOT)}: {len(found)} queries, {sum(1 for _ in panels_of(dashboard))} panels")
        queries += found

    # promtool: every query as a recording rule of a throwaway rules file.
    rules = [{"record": f"dashboard_query:{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rules_file = out / "dashboard-rules.json"
    rules_file.write_text(json.dumps({"groups": [{"name": "dashboard-queries", "rules": rules}]}, indent=2))
    run = subprocess.run([args.promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    if run.returncode != 0:
        report = (run.stdout + run.stderr).strip()
        # promtool names the rule by its record name, whose number is the query's: say which panel.
        bad = sorted({int(n) for n in re.findall(r"dashboard_query:(\d+)", report)})
        print("    " + report.replace("\n", "\n    "))
        blamed = [queries[n][0] for n in bad if n < len(queries)] or [str(rules_file)]
        for where in blamed:
            finding("promql", where, "promtool check rules refuses it")
    else:
        print(f"  promtool check rules: {len(rules)} queries parse ({rules_file.relative_to(ROOT) if rules_file.is_relative_to(ROOT) else rules_file})")

    # Metric names, in the dashboards' queries and in the alert rules.
    for path in ALERT_RULES:
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                queries.append((f"{path.relative_to(ROOT)} {name}", rule["expr"]))
    used = 0
    for where, expr in queries:
        for metric in metric_names(expr):
            used += 1
            if metric not in known:
                finding("metrics", where, f"{metric} is exposed by no service")
    print(f"  metric names: {used} uses in {len(queries)} queries (dashboards and alert rules) checked")

    if args.plant:
        kind = "metrics" if args.plant == "unknown-metric" else "promql"
        planted = [f for f in findings if f[0] == kind]
        if len(planted) == 1 and len(findings) == 1:
            print(f"check-dashboards: the planted {args.plant} was found, and nothing else")
            return 0
        print(f"check-dashboards: expected exactly the planted {args.plant}, got {findings}", file=sys.stderr)
        return 1
    if findings:
        print(f"check-dashboards: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    print("check-dashboards: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
