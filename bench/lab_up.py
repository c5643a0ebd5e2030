"""Time `kanslab up` to "all BGP sessions Established and three pods answering", and `down`.

Prints the median over a few runs (root needed). Targets (issue: Embedded lab): up <= 8 s,
down <= 2 s on a 2-core machine; the Vagrant lab takes tens of minutes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import kanslab

PODS = "\n---\n".join(
    f"apiVersion: v1\nkind: Pod\nmetadata: {{name: webpod{i}, labels: {{app: webpod}}}}\n"
    f"spec: {{nodeName: {node}, containers: [{{name: c, image: traefik/whoami}}]}}\n"
    for i, node in ((1, "k8s-w1"), (2, "k8s-w2"), (3, "k8s-w0")))


def one_run(prefix: str) -> tuple[float, float]:
    lab = kanslab.connect("local", prefix=prefix)
    t0 = time.monotonic()
    try:
        lab.up(progress=False)
        lab.apply(PODS)
        ips = {f"webpod{i}": lab.pod_ip(f"webpod{i}") for i in (1, 2, 3)}
        for src in ips:
            for dst, ip in ips.items():
                if src != dst:
                    assert f"Hostname: {dst}" in lab.exec(src, f"curl -s --max-time 3 http://{ip}/")
        t_up = time.monotonic() - t0
    finally:
        t1 = time.monotonic()
        lab.down()
        t_down = time.monotonic() - t1
    return t_up, t_down


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefix", default="kb")
    a = ap.parse_args()
    ups, downs = [], []
    for i in range(a.runs):
        u, d = one_run(f"{a.prefix}{i}")
        ups.append(u)
        downs.append(d)
        print(f"run {i + 1}: up+pods answering {u:.2f} s, down {d:.2f} s", flush=True)
    print(f"median up (BGP Established, 3 pods answering): {statistics.median(ups):.2f} s   (target <= 8 s)")
    print(f"median down: {statistics.median(downs):.2f} s   (target <= 2 s)")


if __name__ == "__main__":
    main()
