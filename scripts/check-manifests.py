#!/usr/bin/env python3
"""What the schema cannot say about the rendered overlays (issue 8, design §3.4).

Usage: check-manifests.py <overlay-name> <rendered.yaml> ...

For every paybridge Deployment (an image named paybridge/<service>): liveness on /health,
readiness on /health/ready and a startupProbe; requests and limits; runAsNonRoot,
readOnlyRootFilesystem, all capabilities dropped, seccomp RuntimeDefault;
automountServiceAccountToken false; RollingUpdate with maxUnavailable 0; a preStop sleep and a
grace period that covers it plus the 10 s drain; a ConfigMap reference that resolves to a
generated (hash-suffixed) ConfigMap, so pods roll on config change; Secrets by reference.
A default-deny NetworkPolicy; an HPA (autoscaling/v2) and a PDB (policy/v1) per service.
Production: no Secret object at all, two replicas or more (and HPA minimum), no portone-sandbox,
migrations run by `<binary> migrate`, RabbitMQ's CA file (amqp.tls_ca_file) set and mounted in
every container that connects (migrations included). Local: portone-sandbox present, and its
PostgreSQL and RabbitMQ with a read-only root filesystem, no privilege escalation, no capabilities.

The trust boundary (deploy/README.md "Trust boundary"): /metrics on its own port (`metrics`,
http.metrics_port) and annotated for scraping there; no NetworkPolicy may admit a whole namespace
(a namespaceSelector without a podSelector in the same `from` entry) or an address block to a
service port (`http`); in production a service port admits nobody without a `from`. Production's
RabbitMQ users (overlays/production/rabbitmq-definitions.json): one per service, each able to
write only the events exchange and its own exchanges and read only its own queues, never the
default exchange.

Needs PyYAML (installed with yamllint). Prints what it checked; exits 1 on any finding.

  check-manifests.py --plant-whole-namespace <rendered-production.yaml>
      adds a policy that admits the monitoring namespace to deposit-confirmation's service port
      and exits 0 only if the check finds it: CI shows that the rule can fail.
"""

import json
import os

import re
import sys

import yaml

DRAIN_SECONDS = 10  # design §3.4
SERVICES = {"order-query", "deposit-confirmation", "portone-gateway"}
failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")
    print(f"  FAIL {where}: {message}")


def check_container(where, c, migrate=False):
    sc = c.get("securityContext", {})
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation is not false")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(where, "capabilities are not drop: [ALL]")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(res.get(kind, {})):
            fail(where, f"resources.{kind} lacks cpu or memory")
    for env in c.get("env", []):
        if "value" in env and re.search(r"(URL|TOKENS|SECRET|KEY)$", env["name"]):
            fail(where, f"{env['name']} is a literal value, not a Secret reference")
    if migrate:
        if c.get("args") != ["migrate"]:
            fail(where, "the init container does not run `<binary> migrate`")
        return
    probes = {
        "livenessProbe": "/health",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health",
    }
    for probe, path in probes.items():
        got = c.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            fail(where, f"{probe} is {got!r}, not GET {path}")


def check_broker_ca(overlay, by_kind, deployments):
    """amqps:// with amqp.tls_ca_file (deploy/README.md, "TLS to PostgreSQL and RabbitMQ"): the
    file is named in the ConfigMap and every container, migrations too, has it mounted."""
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("paybridge-config"):
            config.update(cm.get("data", {}))
    ca = config.get("PAYBRIDGE__AMQP__TLS_CA_FILE", "")
    if not ca.startswith("/"):
        fail(overlay, "PAYBRIDGE__AMQP__TLS_CA_FILE is not set to a file: RabbitMQ's certificate goes unchecked")
        return
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            mounts = [m["mountPath"].rstrip("/") + "/" for m in c.get("volumeMounts", [])]
            if not any(ca.startswith(m) for m in mounts):
                fail(f"{overlay}/Deployment/{d['metadata']['name']}/{c['name']}", f"{ca} is not mounted")


def container_ports(deployment):
    ports = {}
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        for p in c.get("ports", []):
            ports[p.get("name")] = p["containerPort"]
    return ports


def check_network_policies(overlay, by_kind, deployments, production):
    """No whole namespace, and no address block, is admitted to a service port."""
    ports_of = {d["metadata"]["name"]: container_ports(d) for d in deployments}
    for policy in by_kind.get("NetworkPolicy", []):
        target = policy["spec"].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        if target not in ports_of:
            continue
        service_port = ports_of[target].get("http")
        where = f"{overlay}/NetworkPolicy/{policy['metadata']['name']}"
        for rule in policy["spec"].get("ingress", []):
            ports = [p.get("port") for p in rule.get("ports", [])]
            # No `ports` admits every port, the service port included.
            if ports and service_port not in ports and "http" not in ports:
                continue
            sources = rule.get("from")
            if sources is None:
                if production:
                    fail(where, f"admits every pod of every namespace to the service port {service_port}")
                continue
            for source in sources:
                if "ipBlock" in source:
                    fail(where, f"admits an address block to the service port {service_port}")
                elif "namespaceSelector" in source and "podSelector" not in source:
                    fail(where, f"admits every pod of a namespace ({source['namespaceSelector']}) "
                                f"to the service port {service_port}: select its pods in the same entry")


def check_metrics_port(overlay, deployments, configmaps_by_name):
    """/metrics is served on the port the pods are scraped on, and not on the service port."""
    for d in deployments:
        name = d["metadata"]["name"]
        if name not in SERVICES:
            continue
        where = f"{overlay}/Deployment/{name}"
        ports = container_ports(d)
        annotated = d["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/port")
        if "metrics" not in ports:
            fail(where, "no container port named metrics")
            continue
        if annotated != str(ports["metrics"]):
            fail(where, f"scraped on {annotated}, /metrics is served on {ports['metrics']}")
        configured = None
        for c in d["spec"]["template"]["spec"]["containers"]:
            for ref in c.get("envFrom", []):
                cm = configmaps_by_name.get(ref.get("configMapRef", {}).get("name"))
                if cm:
                    configured = cm.get("data", {}).get("PAYBRIDGE__HTTP__METRICS_PORT", configured)
        if configured != str(ports["metrics"]):
            fail(where, f"PAYBRIDGE__HTTP__METRICS_PORT is {configured}, the metrics port {ports['metrics']}")


RABBITMQ_DEFINITIONS = os.path.join(
    os.path.dirname(__file__), "..", "deploy", "overlays", "production", "rabbitmq-definitions.json")
EVENTS_EXCHANGE = "paybridge.events"


def check_rabbitmq_rights(path=RABBITMQ_DEFINITIONS):
    """Each service's user may do what its topology needs (messaging::broker::QueueTopology) and
    nothing of another service's, and never publish to the default exchange."""
    with open(path) as f:
        defs = json.load(f)
    where = "production/rabbitmq-definitions.json"
    rights = {p["user"]: p for p in defs.get("permissions", [])}
    for service in sorted(SERVICES):
        user = f"paybridge-{service}"
        if user not in rights:
            fail(where, f"no permissions for {user}")
            continue
        perm = rights[user]
        may = {kind: re.compile(perm[kind]) for kind in ("configure", "write", "read")}
        own = [f"{service}.events", f"{service}.events.dlq", f"{service}.events.dlx", f"{service}.replay"]
        needs = {
            "configure": [EVENTS_EXCHANGE, *own],
            # Publish: events (relay), its dead-letter exchange (its own dead-lettering, `dlq`), its
            # replay exchange (`dlq replay`); bind: its queues.
            "write": [EVENTS_EXCHANGE, *own],
            # Consume and `dlq` its queues; bind from the exchanges.
            "read": [EVENTS_EXCHANGE, *own],
        }
        for kind, names in needs.items():
            for name in names:
                if not may[kind].fullmatch(name):
                    fail(where, f"{user} cannot {kind} {name}, which its topology needs")
        others = [n for other in SERVICES - {service}
                  for n in (f"{other}.events", f"{other}.events.dlq", f"{other}.events.dlx", f"{other}.replay")]
        forbidden = {
            "write": ["", "amq.default", "amq.topic", *others],
            "read": ["amq.default", *others],
            "configure": ["", "amq.default", *others],
        }
        for kind, names in forbidden.items():
            for name in names:
                if may[kind].search(name):
                    fail(where, f"{user} may {kind} {name!r}")
        if [u for u in defs.get("users", []) if u["name"] == user and u.get("tags")]:
            fail(where, f"{user} has management tags")
    print(f"  rabbitmq: {len(rights)} users' rights checked")


def main(overlay, docs):
    objects = [d for d in docs if d]
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    configmaps = {o["metadata"]["name"] for o in by_kind.get("ConfigMap", [])}
    secrets = by_kind.get("Secret", [])
    names = {o["metadata"]["name"] for o in objects}
    production = overlay == "production"

    deployments = [
        d for d in by_kind.get("Deployment", [])
        if any("paybridge/" in c["image"] for c in d["spec"]["template"]["spec"]["containers"])
    ]
    seen = set()
    for d in deployments:
        name = d["metadata"]["name"]
        seen.add(name)
        where = f"{overlay}/Deployment/{name}"
        spec = d["spec"]
        pod = spec["template"]["spec"]
        if spec.get("strategy", {}).get("type") != "RollingUpdate" or \
                spec["strategy"].get("rollingUpdate", {}).get("maxUnavailable") != 0:
            fail(where, "not a RollingUpdate with maxUnavailable 0")
        if pod.get("automountServiceAccountToken") is not False:
            fail(where, "automountServiceAccountToken is not false")
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            fail(where, "runAsNonRoot is not true")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            fail(where, "seccompProfile is not RuntimeDefault")
        for c in pod["containers"]:
            check_container(f"{where}/{c['name']}", c)
            sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if not sleep:
                fail(where, "no preStop sleep")
            elif grace < sleep + DRAIN_SECONDS:
                fail(where, f"grace period {grace}s < preStop {sleep}s + drain {DRAIN_SECONDS}s")
            for ref in c.get("envFrom", []):
                cm = ref.get("configMapRef", {}).get("name")
                if cm and (cm not in configmaps or not re.search(r"-[a-z0-9]{10}$", cm)):
                    fail(where, f"configMapRef {cm} is not a generated ConfigMap of this render")
        inits = pod.get("initContainers", [])
        if name in SERVICES:
            if not inits:
                fail(where, "no migration init container")
            for c in inits:
                check_container(f"{where}/init/{c['name']}", c, migrate=True)
        replicas = spec.get("replicas", 1)
        if production and replicas < 2:
            fail(where, f"{replicas} replica(s) in production")
    for name in sorted(SERVICES):
        if name not in seen:
            fail(overlay, f"no Deployment {name}")
        for kind, api in (("HorizontalPodAutoscaler", "autoscaling/v2"), ("PodDisruptionBudget", "policy/v1"),
                          ("Service", "v1"), ("NetworkPolicy", "networking.k8s.io/v1")):
            match = [o for o in by_kind.get(kind, []) if o["metadata"]["name"] == name]
            if not match or match[0]["apiVersion"] != api:
                fail(overlay, f"no {kind} ({api}) for {name}")
            elif kind == "HorizontalPodAutoscaler" and production and match[0]["spec"]["minReplicas"] < 2:
                fail(overlay, f"HPA {name} may scale production below 2")
    # The overlay's own dependencies (the local PostgreSQL and RabbitMQ) are locked down as well:
    # a read-only root with volumes for what they write, no privilege escalation, no capabilities.
    for d in by_kind.get("Deployment", []):
        if d in deployments:
            continue
        where = f"{overlay}/Deployment/{d['metadata']['name']}"
        for c in d["spec"]["template"]["spec"]["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                fail(f"{where}/{c['name']}", "readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(f"{where}/{c['name']}", "allowPrivilegeEscalation is not false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                fail(f"{where}/{c['name']}", "capabilities are not drop: [ALL]")
    deny = [
        p for p in by_kind.get("NetworkPolicy", [])
        if p["spec"].get("podSelector") == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    if not deny:
        fail(overlay, "no default-deny NetworkPolicy")
    check_network_policies(overlay, by_kind, deployments, production)
    check_metrics_port(overlay, deployments, {o["metadata"]["name"]: o for o in by_kind.get("ConfigMap", [])})
    if production:
        check_broker_ca(overlay, by_kind, deployments)
        if secrets:
            fail(overlay, f"holds Secret objects: {[s['metadata']['name'] for s in secrets]}")
        if "portone-sandbox" in names:
            fail(overlay, "ships portone-sandbox")
    elif overlay == "local" and "portone-sandbox" not in seen:
        fail(overlay, "lacks portone-sandbox")
    print(f"  {overlay}: {len(objects)} objects, {len(deployments)} paybridge Deployments checked")


def plant_whole_namespace(path):
    """The rendered production overlay plus one bad policy: the check must find exactly it."""
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    docs.append({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "planted-monitoring-to-deposits", "namespace": "paybridge"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "deposit-confirmation"}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                "ports": [{"protocol": "TCP", "port": 8082}],
            }],
        },
    })
    main("production", docs)
    planted = [f for f in failures if "planted-monitoring-to-deposits" in f and "every pod of a namespace" in f]
    others = [f for f in failures if f not in planted]
    if planted and not others:
        print("check-manifests: the planted namespace-wide policy was found, and nothing else")
        sys.exit(0)
    print(f"check-manifests: planted policy found: {bool(planted)}; other findings: {others}")
    sys.exit(1)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--plant-whole-namespace"]:
        plant_whole_namespace(args[1])
    check_rabbitmq_rights()
    for overlay, path in zip(args[::2], args[1::2]):
        with open(path) as f:
            main(overlay, list(yaml.safe_load_all(f)))
    if failures:
        print(f"check-manifests: {len(failures)} finding(s)")
        sys.exit(1)
