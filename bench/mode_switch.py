"""Time a Calico mode switch: from `calicoctl patch ippool` to the first successful cross-node request.

Brings up its own lab (prefix `kbm` unless told), puts webpod1 on k8s-w1, webpod2 on k8s-w2 and
webpod3 on k8s-w0, then walks the pool through a cycle of modes several times. For each
transition it starts the clock, runs the patch on k8s-m as a student would, and then curls from
webpod1 until every pod that the new mode can reach has answered (k8s-w2's always; k8s-w0's
except in Direct mode, where the router does not know the pod blocks). Requests start after
the patch returns, so none is served by the old mode's routes. Prints, per transition, the
median time to the patch's return and to the first successful requests (root needed).
Target (issue 4): <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import kanslab

PODS = "\n---\n".join(
    f"apiVersion: v1\nkind: Pod\nmetadata: {{name: webpod{i}, labels: {{app: webpod}}}}\n"
    f"spec: {{nodeName: {node}, containers: [{{name: c, image: traefik/whoami}}]}}\n"
    for i, node in ((1, "k8s-w1"), (2, "k8s-w2"), (3, "k8s-w0")))

MODES = {
    "IPIP Always": {"ipipMode": "Always", "vxlanMode": "Never"},
    "Direct": {"ipipMode": "Never", "vxlanMode": "Never"},
    "IPIP CrossSubnet": {"ipipMode": "CrossSubnet", "vxlanMode": "Never"},
    "VXLAN Always": {"ipipMode": "Never", "vxlanMode": "Always"},
    "VXLAN CrossSubnet": {"ipipMode": "Never", "vxlanMode": "CrossSubnet"},
}
# a cycle whose steps cover every mode and both directions between the encapsulations
CYCLE = ["IPIP Always", "Direct", "IPIP CrossSubnet", "VXLAN Always", "VXLAN CrossSubnet", "IPIP Always",
         "VXLAN Always", "IPIP Always"]


def patch(lab, mode: str) -> None:
    lab.calicoctl(f"patch ippool default-ipv4-ippool -p '{json.dumps({'spec': MODES[mode]})}'")


def answered(lab, pod: str, ip: str) -> bool:
    out = lab.exec("webpod1", f"curl -s --max-time 1 http://{ip}/", check=False)
    return f"Hostname: {pod}" in out


def switch(lab, mode: str, ips: dict[str, str], timeout: float = 20.0) -> tuple[float, float]:
    """(seconds until the patch returned, seconds until every reachable pod answered)."""
    want = {p: ip for p, ip in ips.items() if not (mode == "Direct" and p == "webpod3")}
    t0 = time.monotonic()
    patch(lab, mode)
    t_patch = time.monotonic() - t0
    pending = dict(want)
    while pending:
        for pod, ip in list(pending.items()):
            if answered(lab, pod, ip):
                del pending[pod]
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"switching to {mode}: {sorted(pending)} did not answer in {timeout:.0f} s")
    return t_patch, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="times to walk the cycle of modes")
    ap.add_argument("--prefix", default="kbm")
    a = ap.parse_args()
    lab = kanslab.connect("local", prefix=a.prefix)
    try:
        lab.up(progress=False)
        lab.apply(PODS)
        ips = {p: lab.pod_ip(p) for p in ("webpod2", "webpod3")}
        patch(lab, CYCLE[0])
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(a.rounds):
            for frm, to in zip(CYCLE, CYCLE[1:], strict=False):
                times.setdefault((frm, to), []).append(switch(lab, to, ips))
            print(f"round {r + 1}/{a.rounds} done", flush=True)
        print(f"\n{'transition':<42} {'patch returns':>14} {'first requests':>15}   (median of {a.rounds}, s)")
        worst = 0.0
        for (frm, to), runs in times.items():
            p = statistics.median(t for t, _ in runs)
            q = statistics.median(t for _, t in runs)
            worst = max(worst, q)
            print(f"{frm + ' -> ' + to:<42} {p:>14.2f} {q:>15.2f}")
        print(f"\nslowest transition, median patch -> first successful cross-node request: {worst:.2f} s"
              "   (target <= 2 s)")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
