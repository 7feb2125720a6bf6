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
every container that connects (migrations included). Local: portone-sandbox present.

Needs PyYAML (installed with yamllint). Prints what it checked; exits 1 on any finding.
"""

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
    deny = [
        p for p in by_kind.get("NetworkPolicy", [])
        if p["spec"].get("podSelector") == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    if not deny:
        fail(overlay, "no default-deny NetworkPolicy")
    if production:
        check_broker_ca(overlay, by_kind, deployments)
        if secrets:
            fail(overlay, f"holds Secret objects: {[s['metadata']['name'] for s in secrets]}")
        if "portone-sandbox" in names:
            fail(overlay, "ships portone-sandbox")
    elif overlay == "local" and "portone-sandbox" not in seen:
        fail(overlay, "lacks portone-sandbox")
    print(f"  {overlay}: {len(objects)} objects, {len(deployments)} paybridge Deployments checked")


if __name__ == "__main__":
    args = sys.argv[1:]
    for overlay, path in zip(args[::2], args[1::2]):
        with open(path) as f:
            main(overlay, list(yaml.safe_load_all(f)))
    if failures:
        print(f"check-manifests: {len(failures)} finding(s)")
        sys.exit(1)
