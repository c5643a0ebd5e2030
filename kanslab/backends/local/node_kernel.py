"""What the agent reads back from a node's kernel (routes, addresses, links) and Felix's MTU file:
small helpers shared by the agent's reconcilers and tests."""

from __future__ import annotations

import json
import subprocess

from ...emulator import felix
from ...emulator.felix import NodeView, Route
from . import mntns
from .netns import run


def mtu_file(names, node: str):
    """The node's /var/lib/calico/mtu as the agent (Felix) writes it, in the node's lab directory."""
    return mntns.files_dir(names, node) / "var-lib-calico" / "mtu"  # bound at /var/lib/calico in its mount ns


def current_pod_mtu(names, node: str) -> int | None:
    """The pod MTU Felix last wrote for `node` (what the CNI gives a pod created now); None before
    Felix has started there."""
    try:
        return int(mtu_file(names, node).read_text())
    except (OSError, ValueError):
        return None


def kernel_routes(rows: list[dict]) -> list[Route]:
    """`ip -j route` rows as `Route`s (prefix length added to host routes); the default route and
    rows without a destination are left out."""
    out = []
    for r in rows:
        dst = r.get("dst")
        if not dst or dst == "default":
            continue
        proto = str(r.get("protocol", felix.DEVICE_PROTO))  # `ip -j route` leaves out proto boot, as `ip route` does
        out.append(Route(dst if "/" in dst else dst + "/32", r.get("dev"), r.get("gateway"),
                         felix.BIRD_PROTO if proto == "12" else proto, "onlink" in (r.get("flags") or []),
                         r.get("type", "unicast")))
    return out


def owned_routes(main: list[Route], view: NodeView) -> list[Route]:
    """Main-table routes the lab's Felix owns: pool prefixes with proto bird/80, and Felix's own
    blackholes (BIRD's blackholes for this node's blocks stay BIRD's)."""
    pools = view.ipv4_pools
    return [r for r in main if (r.proto in (felix.BIRD_PROTO, felix.FELIX_PROTO) or
                                (r.proto == felix.DEVICE_PROTO and r.dev == felix.VXLAN_DEV))
            and felix.pool_of(r.dst, pools)
            and (r.type == "unicast" or (r.type == "blackhole" and r.proto == felix.FELIX_PROTO))]


def route_text(r: Route) -> str:
    """A `Route` as `ip route` arguments (what follows `ip route replace|del`)."""
    if r.type != "unicast":
        return f"{r.type} {r.dst} proto {r.proto}"
    return " ".join([r.dst] + ([f"via {r.via}"] if r.via else []) + ([f"dev {r.dev}"] if r.dev else []) +
                    [f"proto {r.proto}"] + (["onlink"] if r.onlink else []))


def read_route_tables(ns: str, *tables: str | int) -> list[list[dict]]:
    """`ip -j route show table T` for each table, from one `ip -batch` process (a route sync runs
    often while a mesh comes up: one process, not one per table). A table not made yet reads empty."""
    script = "".join(f"route show table {t}\n" for t in tables)
    out = run(["ip", "-n", ns, "-j", "-batch", "-"], input=script).stdout
    rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    if len(rows) != len(tables):
        raise ValueError(f"ip -batch in {ns} printed {len(rows)} route tables for {len(tables)}: {out[:200]!r}")
    return rows


def route_sync_interval(nodes: int) -> float:
    """How often at most the agent syncs a node's routes while BIRD changes table 200: a mesh of 100
    nodes coming up brings each node 100 routes over seconds, and a sync per route cost more CPU than BIRD."""
    return min(1.0, max(0.02, 0.01 * nodes))


def addrs(ns: str, dev: str) -> list[str]:
    p = run(["ip", "-n", ns, "-j", "addr", "show", "dev", dev], check=False)
    if p.returncode != 0:
        return []
    return [a["local"] for link in json.loads(p.stdout or "[]") for a in link.get("addr_info", []) if a.get("family") == "inet"]


def has_link(ns: str, dev: str) -> bool:
    return run(["ip", "-n", ns, "link", "show", "dev", dev], check=False).returncode == 0


def kernel_addresses(netns: str) -> list[str]:
    """Every address in a namespace in the order Go's net.Interfaces()/Addrs() give them (whoami prints
    these): interfaces by index, each one's IPv4 addresses before its IPv6 ones (the kernel's dump order)."""
    out = subprocess.run(["ip", "-n", netns, "-j", "addr", "show"], capture_output=True, text=True,
                         check=False).stdout
    ips = []
    for link in sorted(json.loads(out or "[]"), key=lambda link: link.get("ifindex", 0)):
        infos = link.get("addr_info") or []
        ips += [a["local"] for a in infos if a.get("family") == "inet"]
        ips += [a["local"] for a in infos if a.get("family") == "inet6"]
    return ips
