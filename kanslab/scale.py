"""Measuring a lab as it grows (chapter 07, bench/scale.py): BGP sessions and routes per node,
the lab's memory, and the time until sessions are Established or a new block is everywhere.

Everything is read the way a student would read it on a node (`birdcl show protocols`,
`ip route`), through the `Lab` API, so it works on every backend that has the nodes; memory needs
the embedded lab (`LocalBackend`)."""

from __future__ import annotations

import ipaddress
import time

import pandas as pd

from . import parse
from .waiting import wait_for

REFLECTOR_LABEL = "route-reflector"
RR_PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "peer-with-route-reflectors"},
           "spec": {"nodeSelector": "all()", "peerSelector": f"{REFLECTOR_LABEL} == 'true'"}}
MESH_OFF = {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
            "spec": {"nodeToNodeMeshEnabled": False}}


def connect(workers: int, **kwargs):
    """`kanslab.connect(workers=N)` on a lab of its own (prefix `<your prefix>w<N>`), so a chapter with
    many workers does not meet the four-node lab the other chapters use."""
    import os

    from .backends.local.names import default_prefix
    from .lab import connect as _connect

    backend = kwargs.get("backend") or os.environ.get("KANSLAB_BACKEND") or "local"
    if backend == "local":
        kwargs.setdefault("prefix", f"{default_prefix()}w{workers}")
    return _connect(workers=workers, **kwargs)


def bgp_sessions(lab, nodes: list[str] | None = None) -> pd.DataFrame:
    """One row per node: its BGP protocols, how many are Established, and its routes to pod blocks
    learned over BGP (`proto bird` routes through tunl0 or the NIC)."""
    rows = []
    for node in nodes or [n.name for n in lab.topology.nodes]:
        protos = parse.bird_protocols(lab.sh(node, "birdcl show protocols"))
        bgp = protos[protos.proto == "BGP"]
        routes = [ln for ln in lab.sh(node, "ip route").splitlines() if " proto bird" in ln and " via " in ln]
        rows.append({"node": node, "sessions": len(bgp), "established": int((bgp["info"].str.startswith("Established")).sum()),
                     "routes": len(routes)})
    return pd.DataFrame(rows)


def memory_mib(lab) -> float:
    """The embedded lab's resident memory in MiB (every process of the lab)."""
    from .backends.local.usage import lab_rss

    return round(sum(lab_rss(lab.backend.prefix).values()) / 2**20, 1)


def use_route_reflector(lab, node: str = "k8s-m", cluster_id: str = "244.0.0.1", on_step=None) -> None:
    """Calico's four steps: the node's routeReflectorClusterID, its route-reflector=true label, a
    BGPPeer from every node to the reflectors, and the node-to-node mesh off. `on_step(i)` is called
    as step i (1..4) starts."""
    steps = [lambda: lab.calicoctl(f"""patch node {node} -p '{{"spec":{{"bgp":{{"routeReflectorClusterID":"{cluster_id}"}}}}}}'"""),
             lambda: lab.kubectl(f"label node {node} {REFLECTOR_LABEL}=true --overwrite"),
             lambda: lab.apply(RR_PEER),
             lambda: lab.apply(MESH_OFF)]
    for i, step in enumerate(steps, 1):
        if on_step:
            on_step(i)
        step()


def reflected(lab, node: str, blocks: set[str]):
    """A check: `node` has exactly one BGP session, Established, and a tunl0 route to each of `blocks`."""
    def check() -> bool:
        bgp = parse.bird_protocols(lab.sh(node, "birdcl show protocols"))
        bgp = bgp[bgp.proto == "BGP"]
        if len(bgp) != 1 or not bgp["info"].iloc[0].startswith("Established"):
            return False
        return blocks <= {ln.split()[0] for ln in lab.sh(node, "ip route").splitlines() if " dev tunl0 " in ln}
    return check


def route_reflector_convergence(lab, far: str | None = None, node: str = "k8s-m", timeout: float = 120) -> dict:
    """The four steps (`use_route_reflector`) while another thread watches `far` (default the last worker):
    seconds from the first step's start and from the fourth's until `far` has exactly one BGP session,
    Established, and a tunnel route to every other node's block (None when not within `timeout`),
    and how long each step took."""
    import threading

    far = far or lab.topology.nodes[-1].name
    blocks = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks"))
    others = set(blocks[blocks.grouping == "Block"].cidr)
    others -= {ln.split()[1] for ln in lab.sh(far, "ip route").splitlines() if ln.startswith("blackhole ")}
    starts: dict[int, float] = {}
    done: list[float] = []
    fourth = threading.Event()

    def watch() -> None:
        check = reflected(lab, far, others)
        fourth.wait(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done:
            try:
                if check():
                    done.append(time.monotonic())
                    return
            except Exception:   # a command racing the change: ask again
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def on_step(i: int) -> None:
        starts[i] = time.monotonic()
        if i == 4:
            fourth.set()
    try:
        use_route_reflector(lab, node, on_step=on_step)
        starts[5] = time.monotonic()
    finally:
        fourth.set()
        watcher.join(timeout + 5)
    t = done[0] if done else None
    return {"far": far, "steps_s": [round(starts[i + 1] - starts[i], 2) for i in range(1, 5)],
            "from_fourth_step_s": None if t is None else round(t - starts[4], 2),
            "from_first_step_s": None if t is None else round(t - starts[1], 2)}


def seconds_until(check, timeout: float = 120.0) -> float | None:
    """Seconds until `check()` is true, or None when it is not within `timeout`."""
    t0 = time.monotonic()
    return round(time.monotonic() - t0, 2) if wait_for(check, timeout=timeout, interval=0.2) else None


def all_established(lab, node: str, expected: int):
    """A check for `seconds_until`: `node` has `expected` BGP sessions, all Established."""
    def check() -> bool:
        df = bgp_sessions(lab, [node])
        return int(df.sessions[0]) == expected and int(df.established[0]) == expected
    return check


def free_block(lab) -> str:
    """A block of the default pool no node holds yet (from `calicoctl ipam show --show-blocks`), from the top."""
    blocks = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks"))
    pool = ipaddress.ip_network(blocks[blocks.grouping == "IP Pool"].cidr.iloc[0])
    size = ipaddress.ip_network(blocks[blocks.grouping == "Block"].cidr.iloc[0]).prefixlen
    taken = set(blocks[blocks.grouping == "Block"].cidr)
    return next(str(b) for b in reversed(list(pool.subnets(new_prefix=size))) if str(b) not in taken)


def block_convergence(lab, name: str, node: str = "k8s-w1", far: str | None = None, timeout: float = 60) -> float | None:
    """A pod `name` on `node` with an address in a free block (the ipAddrs annotation makes the node claim
    the whole block): seconds from the apply until `far` (default the last worker) routes the block."""
    far = far or lab.topology.nodes[-1].name
    block = free_block(lab)
    ip = str(ipaddress.ip_network(block).network_address + 10)
    t0 = time.monotonic()
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "annotations": {"cni.projectcalico.org/ipAddrs": f'["{ip}"]'}},
        "spec": {"nodeName": node, "containers": [{"name": name, "image": "traefik/whoami"}]}})
    routed = wait_for(lambda: any(ln.startswith(block + " ") for ln in lab.sh(far, "ip route").splitlines()),
                      timeout=timeout, interval=0.1)
    return round(time.monotonic() - t0, 2) if routed else None
