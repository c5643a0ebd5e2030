"""Chapter 05's exercises: Felix's metrics, read from the nodes' own metrics endpoints."""

from __future__ import annotations

import json

from ..errors import ParseError
from ..parse import prometheus
from ._common import node_ip, running_pods
from .registry import Result, exercise

CHAPTER = "05-monitoring"


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


@exercise("05-scraper", CHAPTER, "A scraper gets through mon-ingress")
def scraper(lab) -> Result:
    pods = running_pods(lab)
    mon = pods[pods.labels.map(lambda ls: (ls or {}).get("app") == "mon")]
    if mon.empty:
        return Result(False, "the chapter's mon pods (app=mon) are not running: create them first.")
    pol = json.loads(lab.kubectl("get networkpolicy -A -o json")).get("items", [])
    guards = [p for p in pol if (p["spec"].get("podSelector") or {}).get("matchLabels", {}).get("app") == "mon"]
    if not guards:
        return Result(False, "no NetworkPolicy selects app=mon: anyone reaches mon1 now. Apply the chapter's "
                             "mon-ingress first; the exercise is to get through it.")
    scrapers = pods[pods.labels.map(lambda ls: (ls or {}).get("role") == "scraper")]
    if scrapers.empty:
        return Result(False, "no running pod carries the label the policy admits. Hint: read mon-ingress's `from`.")
    target = f"{mon.iloc[0].namespace}/{mon.iloc[0]['name']}"
    keys = [f"{r.namespace}/{r.name}" for r in scrapers.itertuples()]
    m = lab.reachability(pods=keys + [target])
    ok = [k for k in keys if m.loc[k, target]]
    if ok:
        return Result(True, f"{ok[0]} reaches {target} on TCP/80 through mon-ingress (measured).")
    return Result(False, f"{', '.join(keys)} carry role=scraper but do not reach {target}. Hint: mon-ingress's "
                         "podSelector peer means pods of mon's own namespace.")
