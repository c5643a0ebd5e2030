"""Full mesh against route reflection as the lab grows (issue 16): for each N, `kanslab up --workers N`,
then the same lab switched to k8s-m as the only route reflector.

Prints per N and mode: seconds from `up` (or from the switch's first step) until every session is
Established, BGP sessions per node (mean and max) and in total, BGP routes per node, the lab's
resident memory, and the seconds until a pod block that appears on k8s-w1 is routed on the farthest
worker. For the switch also: how long each of the four steps took (`steps_s`), and the seconds from
the fourth step's start and from the first's until the last worker has exactly one BGP peer,
Established, and a tunnel route to every other node's block (`far_after_4th_s`, `far_after_1st_s`).
Root needed; use your own KANSLAB_PREFIX-like prefix (--prefix). The machine's load shows in the
numbers: on a shared 2-core machine they are worse than alone.

    sudo .venv/bin/python bench/scale.py               # N = 5 25 50 100
    sudo .venv/bin/python bench/scale.py 5 25 --prefix bs
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

import kanslab
from kanslab.scale import (
    all_established,
    bgp_sessions,
    block_convergence,
    memory_mib,
    route_reflector_convergence,
    seconds_until,
)


def _row(lab, n: int, mode: str, established_s: float | None, far: str, pod: str) -> dict:
    df = bgp_sessions(lab)
    return {"N": n, "mode": mode, "established_s": established_s,
            "sessions_per_node": round(df.sessions.mean(), 1), "sessions_max": int(df.sessions.max()),
            "sessions_total": int(df.sessions.sum() // 2) if mode == "mesh" else int(df.sessions.sum() - df.sessions.max()),
            "routes_per_node": round(df.routes.mean(), 1), "rss_mib": memory_mib(lab),
            "block_convergence_s": block_convergence(lab, pod, far=far)}


def run(n: int, prefix: str) -> list[dict]:
    lab = kanslab.connect("local", prefix=prefix, workers=n)
    rows = []
    t0 = time.monotonic()
    try:
        lab.up(progress=False)   # returns with every session of the full mesh Established
        far = lab.topology.nodes[-1].name
        rows.append(_row(lab, n, "mesh", round(time.monotonic() - t0, 1), far, "newblock1"))
        t1 = time.monotonic()
        rr = route_reflector_convergence(lab, far=far)
        clients = len(lab.topology.nodes) - 1
        done = seconds_until(all_established(lab, "k8s-m", clients), timeout=300)
        rows.append(_row(lab, n, "route reflector", None if done is None else round(time.monotonic() - t1, 1),
                         far, "newblock2")
                    | {"steps_s": rr["steps_s"], "far_after_4th_s": rr["from_fourth_step_s"],
                       "far_after_1st_s": rr["from_first_step_s"]})
    finally:
        lab.down()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workers", nargs="*", type=int, default=[5, 25, 50, 100])
    ap.add_argument("--prefix", default="bscale")
    args = ap.parse_args()
    rows = []
    for n in args.workers:
        rows += run(n, args.prefix)
        print(f"load average {os.getloadavg()[0]:.1f} (2 cores shared: other labs' load shows in the seconds)")
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
        print()


if __name__ == "__main__":
    main()
