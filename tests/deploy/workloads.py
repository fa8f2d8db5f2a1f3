#!/usr/bin/env python3
"""Checks what the Kubernetes schemas cannot: that every workload in the given YAML streams
runs the Airlock sidecar the way deploy/kubernetes/README.md promises, and that the node
configuration it mounts is one that `airlock node create FILE` accepts.

  workloads.py FILE...                    check each file (a multi-document YAML stream)
  workloads.py --same-pod A B             also: A and B describe the same pod (config and
                                          container names), e.g. a manifest and a chart render
  --external-secret                       the ticket Secret may live outside the stream

Prints one line per problem and exits 1 if there is any; stdin is '-'.
Run with the tools' venv (PyYAML); see check.sh.
"""
import re
import sys

import yaml

METRICS_PORT = 9464
NAME_RE = re.compile(r"^(?!\.)[A-Za-z0-9._-]{1,64}$")
VAR_RE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)")
# Keys of the node file (crates/airlock-cli/src/commands/config.rs, struct NodeFile + aliases).
NODE_KEYS = {
    "name", "ticket", "identity", "project", "tcp-listener-address",
    "relay", "relays", "policies", "policy", "tcp-outlets", "tcp-outlet", "tcp-inlets", "tcp-inlet",
    "kafka-outlet", "kafka-outlets", "kafka-inlet", "kafka-inlets",
}
POLICY_KEYS = {"resource", "resource-type", "expression", "allow"}
RELAY_RE = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
RESOURCE_TYPES = {
    "tcp-inlet", "tcp-outlet", "relay", "kafka-inlet", "kafka-outlet", "kafka-consumer", "kafka-producer",
}
OUTLET_KEYS = {"to", "from"}
INLET_KEYS = {"from", "to", "via", "authorized"}
KAFKA_OUTLET_KEYS = {"bootstrap-server"}
KAFKA_INLET_KEYS = {"from", "to", "via", "outlet", "brokers-port-range", "authorized", "consumer-relay"}


def load(path):
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    return [d for d in yaml.safe_load_all(text) if d]


def pod_specs(docs):
    """(kind/name, pod spec, workload) for each workload."""
    for d in docs:
        kind = d.get("kind")
        name = f"{kind}/{d.get('metadata', {}).get('name')}"
        if kind == "Pod":
            yield name, d.get("spec", {}), d
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield name, d.get("spec", {}).get("template", {}).get("spec", {}), d


def sidecar_of(spec):
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        repo = c.get("image", "").rsplit(":", 1)[0]
        if c.get("name") == "airlock" or repo.endswith("/airlock"):
            return c
    return None


def check_config(where, text, env_names, secret_files, problems):
    """The airlock.yaml as the node would read it."""
    def bad(msg):
        problems.append(f"{where}: airlock.yaml: {msg}")

    for m in VAR_RE.finditer(text):
        var = m.group(1) if m.group(1) is not None else m.group(2)
        if var not in env_names:
            bad(f"uses ${{{var}}} but the sidecar has no such variable (the node would refuse the file)")
    try:
        cfg = yaml.safe_load(VAR_RE.sub("x", text)) or {}
    except yaml.YAMLError as e:
        bad(f"not YAML: {e}")
        return
    if not isinstance(cfg, dict):
        bad("not a mapping")
        return
    for k in sorted(set(cfg) - NODE_KEYS):
        bad(f"unknown key {k!r}")
    name = cfg.get("name", "default")
    if not isinstance(name, str) or not NAME_RE.match(name):
        bad(f"invalid node name {name!r}")
    ticket = cfg.get("ticket")
    if isinstance(ticket, str) and ticket.startswith("/") and ticket not in secret_files:
        bad(f"ticket file {ticket} is not a Secret key mounted in the sidecar ({sorted(secret_files) or 'none'})")
    relays = cfg.get("relay", cfg.get("relays", []))
    relays = [relays] if isinstance(relays, (str, dict)) else (relays or [])
    if not isinstance(relays, list):
        bad(f"relay: give a name, an entry or a list of them, not {relays!r}")
        relays = []
    for r in relays:
        if isinstance(r, dict):
            if set(r) - {"name", "at", "authorized"} or "name" not in r:
                bad(f"relay entry {r!r}: needs `name` and only name, at, authorized")
                continue
            r = r["name"]
        if not isinstance(r, str) or not RELAY_RE.match(r):
            bad(f"invalid relay name {r!r} (1-48 letters, digits, '.', '_', '-')")
    for p in cfg.get("policies", cfg.get("policy", [])) or []:
        if not isinstance(p, dict) or set(p) - POLICY_KEYS:
            bad(f"policy {p!r}: keys must be among {sorted(POLICY_KEYS)}")
            continue
        if ("expression" in p) == ("allow" in p):
            bad(f"policy {p!r}: needs exactly one of expression or allow")
        if "resource" not in p and "resource-type" not in p:
            bad(f"policy {p!r}: needs resource or resource-type")
        if "resource-type" in p and (not isinstance(p["resource-type"], str) or p["resource-type"] not in RESOURCE_TYPES):
            bad(f"policy {p!r}: resource-type must be one of {sorted(RESOURCE_TYPES)}")
        if "resource" in p and not p["resource"]:
            bad(f"policy {p!r}: empty resource")
    for oname, o in (cfg.get("tcp-outlets", cfg.get("tcp-outlet", {})) or {}).items():
        if not isinstance(o, dict) or set(o) - OUTLET_KEYS or "to" not in o:
            bad(f"tcp-outlet {oname}: needs `to` and only {sorted(OUTLET_KEYS)}")
    for iname, i in (cfg.get("tcp-inlets", cfg.get("tcp-inlet", {})) or {}).items():
        if not NAME_RE.match(str(iname)):
            bad(f"invalid inlet name {iname!r}")
        if not isinstance(i, dict) or set(i) - INLET_KEYS or "from" not in i:
            bad(f"tcp-inlet {iname}: needs `from` and only {sorted(INLET_KEYS)}")
        elif "via" not in i and "to" not in i:
            bad(f"tcp-inlet {iname}: needs `to` or `via`")
        elif "via" in i and not NAME_RE.match(str(i["via"])):
            bad(f"tcp-inlet {iname}: invalid via {i['via']!r}")
    # Kafka portals: the single forms (named `kafka`) and the named maps.
    kafka_outlets = dict(cfg.get("kafka-outlets") or {})
    kafka_inlets = dict(cfg.get("kafka-inlets") or {})
    if cfg.get("kafka-outlet") is not None:
        kafka_outlets.setdefault("kafka", cfg["kafka-outlet"])
    if cfg.get("kafka-inlet") is not None:
        kafka_inlets.setdefault("kafka", cfg["kafka-inlet"])
    for oname, o in kafka_outlets.items():
        if not NAME_RE.match(str(oname)):
            bad(f"invalid Kafka outlet name {oname!r}")
        if not isinstance(o, dict) or set(o) - KAFKA_OUTLET_KEYS or "bootstrap-server" not in o:
            bad(f"kafka-outlet {oname}: needs `bootstrap-server` and only {sorted(KAFKA_OUTLET_KEYS)}")
    for iname, i in kafka_inlets.items():
        if not NAME_RE.match(str(iname)):
            bad(f"invalid Kafka inlet name {iname!r}")
        if not isinstance(i, dict) or set(i) - KAFKA_INLET_KEYS:
            bad(f"kafka-inlet {iname}: keys must be among {sorted(KAFKA_INLET_KEYS)}")
        elif "via" in i and "to" in i:
            bad(f"kafka-inlet {iname}: give `to` or `via`, not both")
    # The same file in canonical spelling, for comparisons.
    canon = {"name": name, "relay": relays}
    for key, alias in (("policies", "policy"), ("tcp-outlets", "tcp-outlet"), ("tcp-inlets", "tcp-inlet")):
        canon[key] = cfg.get(key, cfg.get(alias)) or ([] if key == "policies" else {})
    for key in ("ticket", "identity", "project", "tcp-listener-address",
                "kafka-outlet", "kafka-outlets", "kafka-inlet", "kafka-inlets"):
        if key in cfg:
            canon[key] = cfg[key]
    return canon


def probe_ok(probe, path):
    get = (probe or {}).get("httpGet") or {}
    return get.get("path") == path and get.get("port") in (METRICS_PORT, "metrics")


def check_file(path, external_secret):
    docs = load(path)
    problems = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), {})[d.get("metadata", {}).get("name")] = d
    if "Service" in by_kind or "Ingress" in by_kind:
        problems.append(f"{path}: has a Service/Ingress; a portal needs no inbound connection")
    configs = []
    workloads = list(pod_specs(docs))
    if not workloads:
        return problems, configs, []
    for wname, spec, w in workloads:
        where = f"{path}: {wname}"
        bad = lambda msg: problems.append(f"{where}: {msg}")  # noqa: E731
        if w.get("kind") == "Deployment":
            if w["spec"].get("replicas", 1) != 1:
                bad("replicas must be 1 (one node per identity and relay name)")
            if (w["spec"].get("strategy") or {}).get("type") != "Recreate":
                bad("strategy must be Recreate (no two pods of one identity at once)")
        if spec.get("automountServiceAccountToken") is not False:
            bad("automountServiceAccountToken should be false (the node does not use the API)")
        c = sidecar_of(spec)
        if c is None:
            bad("no airlock container")
            continue
        sc = c.get("securityContext") or {}
        psc = spec.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            bad("sidecar: runAsNonRoot is not set")
        if sc.get("runAsUser", psc.get("runAsUser")) != 65532:
            bad("sidecar: runAsUser should be 65532")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad("sidecar: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("sidecar: allowPrivilegeEscalation is not false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            bad("sidecar: capabilities.drop is not [ALL]")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not (res.get(part) or {}).get("memory"):
                bad(f"sidecar: no resources.{part}.memory")
        if not probe_ok(c.get("livenessProbe"), "/healthz"):
            bad(f"sidecar: livenessProbe is not GET /healthz on {METRICS_PORT}")
        if not probe_ok(c.get("readinessProbe"), "/readyz"):
            bad(f"sidecar: readinessProbe is not GET /readyz on {METRICS_PORT}")
        if not any(p.get("containerPort") == METRICS_PORT for p in c.get("ports", [])):
            bad(f"sidecar: does not declare containerPort {METRICS_PORT}")
        argv = c.get("command", []) + c.get("args", [])
        if f"0.0.0.0:{METRICS_PORT}" not in argv or "--metrics" not in argv:
            bad(f"sidecar: args lack --metrics 0.0.0.0:{METRICS_PORT} (probes come from the kubelet, on the pod IP)")
        cfg_args = [a for a in argv if a.endswith((".yaml", ".yml"))]
        if cfg_args != ["/etc/airlock/airlock.yaml"]:
            bad(f"sidecar: config argument is {cfg_args}, not /etc/airlock/airlock.yaml")
        if c.get("command") and c["command"][:4] != ["/airlock", "node", "create", "--foreground"]:
            bad(f"sidecar: command {c['command']} is not /airlock node create --foreground ...")
        env = {e["name"]: e for e in c.get("env", [])}
        if (env.get("AIRLOCK_HOME") or {}).get("value") not in (None, "/var/lib/airlock"):
            bad("sidecar: AIRLOCK_HOME is not /var/lib/airlock")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        state = mounts.get("/var/lib/airlock")
        if not state:
            bad("sidecar: nothing mounted at /var/lib/airlock (the root file system is read-only)")
        elif not ({"emptyDir", "persistentVolumeClaim"} & set(volumes.get(state["name"], {}))):
            bad("sidecar: /var/lib/airlock is neither an emptyDir nor a PersistentVolumeClaim")
        conf_mount = mounts.get("/etc/airlock")
        cm = None
        if not conf_mount:
            bad("sidecar: nothing mounted at /etc/airlock")
        else:
            vol = volumes.get(conf_mount["name"], {})
            cm_name = (vol.get("configMap") or {}).get("name")
            cm = by_kind.get("ConfigMap", {}).get(cm_name)
            if cm is None:
                bad(f"sidecar: /etc/airlock is not a ConfigMap of this stream ({cm_name})")
        secret_files = set()
        for mpath, m in mounts.items():
            sec = (volumes.get(m["name"]) or {}).get("secret")
            if not sec:
                continue
            s = by_kind.get("Secret", {}).get(sec.get("secretName"))
            if s is None and not external_secret:
                bad(f"sidecar: Secret {sec.get('secretName')} is not in this stream")
            keys = [i["path"] for i in sec.get("items", [])] or list(
                ((s or {}).get("stringData") or {}) | ((s or {}).get("data") or {}))
            secret_files |= {f"{mpath.rstrip('/')}/{k}" for k in keys}
        for e in env.values():
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref.get("name") not in by_kind.get("Secret", {}) and not external_secret:
                bad(f"sidecar: env {e['name']} refers to Secret {ref.get('name')}, not in this stream")
        if cm is not None:
            text = (cm.get("data") or {}).get("airlock.yaml")
            if text is None:
                bad(f"ConfigMap {cm['metadata']['name']} has no airlock.yaml")
            else:
                cfg = check_config(where, text, set(env), secret_files, problems)
                configs.append(cfg)
    names = [sorted(c.get("name") for c in s.get("containers", []) + s.get("initContainers", []))
             for _, s, _ in workloads]
    return problems, configs, names


def main(argv):
    external = "--external-secret" in argv
    argv = [a for a in argv if a != "--external-secret"]
    same = argv[:1] == ["--same-pod"]
    files = argv[1:] if same else argv
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    problems, results = [], []
    for f in files:
        p, configs, names = check_file(f, external)
        problems += p
        results.append((f, configs, names))
    if same:
        (fa, ca, na), (fb, cb, nb) = results[:2]
        if ca != cb:
            problems.append(f"{fa} and {fb}: airlock.yaml differs:\n  {ca}\n  {cb}")
        if na != nb:
            problems.append(f"{fa} and {fb}: containers differ: {na} vs {nb}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
