"""Time `lab.reachability()` on the upstream e2e model: a 9x9 matrix (81 real connection attempts) on one port.

Builds its own lab (root needed), the namespaces x, y, z with pods a, b, c (on k8s-w1, k8s-w2,
k8s-w0), then prints the median time of a full matrix with nothing blocked and with x closed
by a default-deny (blocked cells wait for the probe timeout, 1 s by default). Target (issue 5):
<= 3 s per matrix. The lab is torn down however the run ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import kanslab

NS, PODS = ("x", "y", "z"), ("a", "b", "c")
NODES = {"a": "k8s-w1", "b": "k8s-w2", "c": "k8s-w0"}


def model() -> list[dict]:
    objs: list[dict] = [{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "bench"},
                         "spec": {"cidr": "10.244.0.0/16", "blockSize": 24, "ipipMode": "Always"}}]
    objs += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"ns": n}}} for n in NS]
    for i, n in enumerate(NS, 1):
        for j, p in enumerate(PODS):
            ports = [{"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
                     for port in (80, 81) for proto in ("TCP", "UDP")]
            objs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": p, "namespace": n, "labels": {"pod": p},
                                      "annotations": {"cni.projectcalico.org/ipAddrs": json.dumps([f"10.244.{i}.{10 + j}"])}},
                         "spec": {"nodeName": NODES[p], "containers": [{"name": "c", "image": "agnhost", "ports": ports}]}})
    return objs


DENY_X = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "x"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def timed(lab, runs: int, protocol: str, timeout: float) -> tuple[float, int]:
    pods = [f"{n}/{p}" for n in NS for p in PODS]
    times, allowed = [], 0
    for _ in range(runs):
        t0 = time.monotonic()
        df = lab.reachability(80, protocol, pods=pods, timeout=timeout)
        times.append(time.monotonic() - t0)
        allowed = int(df.values.sum())
    return statistics.median(times), allowed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--prefix", default="kbr")
    ap.add_argument("--timeout", type=float, default=1.0, help="probe timeout (lab.reachability's default: 1 s)")
    a = ap.parse_args()
    lab = kanslab.connect("local", prefix=a.prefix)
    try:
        lab.up(progress=False)
        lab.apply(model())
        lab.reachability(80, pods=["x/a", "y/b"])  # first contact (neighbour entries) out of the timing
        for proto in ("TCP", "UDP"):
            med, ok = timed(lab, a.runs, proto, a.timeout)
            print(f"9x9 {proto}/80, no policy:          median {med:.3f} s  ({ok}/81 allowed)   (target <= 3 s)")
        lab.apply(DENY_X)
        for proto in ("TCP", "UDP"):
            med, ok = timed(lab, a.runs, proto, a.timeout)
            print(f"9x9 {proto}/80, default-deny in x:  median {med:.3f} s  ({ok}/81 allowed)   (target <= 3 s)")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
