"""Chapter 05's exercises: Felix's metrics (read from the nodes' own endpoints) and the Service through
which the write-up's Prometheus discovers calico-kube-controllers."""

from __future__ import annotations

import json

from ..errors import ParseError
from ..parse import prometheus
from ._common import node_ip, running_pods
from .registry import Result, exercise

CHAPTER = "05-monitoring"
KUBE_CONTROLLERS_SVC = "kube-controllers-metrics-svc"  # the name the write-up's job keeps
KUBE_CONTROLLERS_PORT = 9094  # KubeControllersConfiguration's prometheusMetricsPort default


def _curl_exit(lab, ip: str, port: int = 9091) -> int:
    out = lab.sh("k8s-m", f"curl -s -o /dev/null --max-time 5 http://{ip}:{port}/metrics; echo $?", check=False)
    return int(out.split()[-1]) if out.split() else -1


def _metric(lab, node: str, metric: str):
    out = lab.sh("k8s-m", f"curl -s --max-time 5 http://{node_ip(lab)[node]}:9091/metrics", check=False)
    try:
        df = prometheus(out)
    except ParseError:
        return None
    rows = df[df.metric == metric]
    return None if rows.empty else float(rows.value.iloc[0])


@exercise("05-enable-metrics", CHAPTER, "Turn on Felix's metrics on every node")
def enable_metrics(lab) -> Result:
    closed = [n for n, ip in node_ip(lab).items() if _curl_exit(lab, ip) != 0]
    if not closed:
        return Result(True, "every node's Felix answers on :9091/metrics.")
    confs = json.loads(lab.calicoctl("get felixconfiguration -o json")).get("items", [])
    on = [c["metadata"]["name"] for c in confs if c.get("spec", {}).get("prometheusMetricsEnabled")]
    if on and "default" not in on:
        return Result(False, f"metrics are on in {', '.join(on)} only, and {', '.join(closed)} do not answer. Hint: "
                             "`node.<name>` configures one node; which FelixConfiguration do all nodes read?")
    ports = {str(c["spec"].get("prometheusMetricsPort")) for c in confs if c.get("spec", {}).get("prometheusMetricsPort")}
    if on and ports - {"9091"}:
        return Result(False, f"metrics are on, but on port {', '.join(sorted(ports))}: the chapter's Prometheus scrapes "
                             "9091. Hint: leave the port at its default.")
    return Result(False, f"nothing answers on :9091 on {', '.join(closed)}. Hint: the field that enables Felix's "
                         "Prometheus endpoint is in the FelixConfiguration named `default`.")


@exercise("05-policy-metric", CHAPTER, "Make felix_active_local_policies move on k8s-w2")
def policy_metric(lab) -> Result:
    value = _metric(lab, "k8s-w2", "felix_active_local_policies")
    if value is None:
        return Result(False, "k8s-w2 serves no metrics: turn Felix's metrics on first.")
    if value >= 1:
        return Result(True, f"felix_active_local_policies on k8s-w2 is {value:g}: a policy now selects an endpoint "
                            "(pod) on that node.")
    pols = lab.kubectl("get networkpolicy -A --no-headers", check=False).strip()
    on_w2 = running_pods(lab)
    on_w2 = on_w2[(on_w2.node == "k8s-w2") & ~on_w2.ip.isin(node_ip(lab).values())]
    if pols and on_w2.empty:
        return Result(False, "there are policies, but no pod of its own network runs on k8s-w2. Hint: Felix counts "
                             "the policies that apply to the endpoints of its node.")
    if pols:
        return Result(False, "there are policies, yet none selects a pod running on k8s-w2 (the metric is still 0). "
                             "Hint: compare your podSelector with the labels of a pod on k8s-w2.")
    return Result(False, "felix_active_local_policies on k8s-w2 is 0: no policy applies to a pod there yet.")


@exercise("05-kube-controllers-svc", CHAPTER, "A Service through which Prometheus finds kube-controllers")
def kube_controllers_svc(lab) -> Result:
    kc = running_pods(lab, "kube-system")
    kc = kc[kc["name"].str.startswith("calico-kube-controllers-")]
    if kc.empty:
        return Result(False, "calico-kube-controllers is not running in kube-system.")
    ip = kc.iloc[0].ip
    want = f"{ip}:{KUBE_CONTROLLERS_PORT}"
    items = json.loads(lab.kubectl("get endpoints -A -o json")).get("items", [])
    found = {}  # "ns/name" -> ["ip:port", ...] of every Endpoints object
    for e in items:
        key = f"{e['metadata'].get('namespace', 'default')}/{e['metadata']['name']}"
        found[key] = [f"{a['ip']}:{p['port']}" for s in e.get("subsets") or [] for a in s.get("addresses") or []
                      for p in s.get("ports") or []]
    mine = next((v for k, v in found.items() if k.endswith(f"/{KUBE_CONTROLLERS_SVC}")), None)
    if mine is not None and want in mine:
        return Result(True, f"{KUBE_CONTROLLERS_SVC} has the endpoint {want}: the job kube_controllers_metrics keeps "
                            "it and Prometheus scrapes kube-controllers there.")
    if mine is not None and any(a.startswith(f"{ip}:") for a in mine):
        return Result(False, f"{KUBE_CONTROLLERS_SVC} selects kube-controllers, but its endpoint is "
                             f"{', '.join(mine)}. Hint: on which port does kube-controllers serve its metrics "
                             "(KubeControllersConfiguration)?")
    if mine is not None:
        return Result(False, f"{KUBE_CONTROLLERS_SVC} exists but has no endpoint on the kube-controllers pod. Hint: "
                             "a Service's endpoints are the pods of its own namespace that its selector matches; "
                             "compare both with the pod's.")
    other = [k for k, v in found.items() if any(a.startswith(f"{ip}:") for a in v)]
    if other:
        return Result(False, f"{', '.join(other)} selects kube-controllers, but the job keeps only the endpoints of "
                             f"a Service with one particular name. Hint: read the job's relabel_configs.")
    return Result(False, "no Service has kube-controllers' pod among its endpoints yet. Hint: felix-metrics-svc, "
                         "headless and selecting calico-node, is the model.")
