"""The pods the agent wires up, per node, from each node's `NodeView` (one datastore snapshot each)."""

from __future__ import annotations

from ...emulator.felix import NodeView
from .dns import is_coredns

WHOAMI_PORT = (80, "TCP")  # traefik/whoami listens on 80 when a pod declares no TCP port
DNS_PORTS = {(53, "UDP"), (53, "TCP")}


def pods_by_node(views: dict[str, NodeView]) -> dict[str, list[dict]]:
    """Running pods with an address, per node, in the shape the agent wires up."""
    out: dict[str, list[dict]] = {}
    for node, view in views.items():
        for p in view.pods:
            if not (p["ip"] and p["interface"]):
                continue
            ports = {(int(x["containerPort"]), (x.get("protocol") or "TCP").upper()) for x in p["ports"]}
            if is_coredns(p["namespace"], p["labels"]):
                ports -= DNS_PORTS   # the cluster DNS (dns.py) answers there
            if not any(proto == "TCP" for _, proto in ports):
                ports.add(WHOAMI_PORT)
            out.setdefault(node, []).append({
                "key": f"{p['namespace']}/{p['name']}", "uid": f"{p['wep']} {p['ip']} {p['mac']}", "namespace": p["namespace"],
                "name": p["name"], "node": node, "ip": p["ip"], "ifname": p["interface"], "mac": p["mac"],
                "ports": sorted(ports)})
    return out
