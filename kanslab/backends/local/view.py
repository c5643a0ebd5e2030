"""Turn the emulator's `node_view` (one datastore snapshot per node) into what the dataplane programs."""

from __future__ import annotations

import ipaddress

from ...emulator import felix
from ...emulator.bird import BirdNode, Peer
from ...emulator.resources import node_view
from ...topology import Topology

WHOAMI_PORT = (80, "TCP")  # traefik/whoami listens on 80 when a pod declares no TCP port


def _pools(view: dict) -> list[felix.PoolInfo]:
    return [felix.PoolInfo(ipaddress.ip_network(p["cidr"]), p["ipip_mode"], p["vxlan_mode"], p["nat_outgoing"],
                           p["disabled"]) for p in view["pools"] if ipaddress.ip_network(p["cidr"]).version == 4]


def pods_by_node(ds, topo: Topology) -> dict[str, list[dict]]:
    """Running pods with an address, per node, in the shape the agent wires up."""
    out: dict[str, list[dict]] = {}
    for n in topo.nodes:
        for p in node_view(ds, n.name, topo)["pods"]:
            if not (p["ip"] and p["interface"]):
                continue
            ports = {(int(x["containerPort"]), (x.get("protocol") or "TCP").upper()) for x in p["ports"]}
            if not any(proto == "TCP" for _, proto in ports):
                ports.add(WHOAMI_PORT)
            out.setdefault(n.name, []).append({
                "key": f"{p['namespace']}/{p['name']}", "uid": f"{p['wep']} {p['ip']} {p['mac']}", "namespace": p["namespace"],
                "name": p["name"], "node": n.name, "ip": p["ip"], "ifname": p["interface"], "mac": p["mac"],
                "ports": sorted(ports)})
    return out


def node_state(view: dict) -> felix.NodeState:
    others = [felix.RemoteNode(o["name"], o["ip"], o["blocks"], o["vxlan_tunnel_addr"], o["vxlan_tunnel_mac"])
              for o in view["nodes"]]
    return felix.NodeState(view["name"], view["ip"], ipaddress.ip_network(view["network"]), view["nic"],
                           view["blocks"], _pools(view), others, dict(view["remote_borrowed"]),
                           view["ipip_tunnel_addr"], view["vxlan_tunnel_addr"], view["vxlan_tunnel_mac"])


def bird_node(view: dict) -> BirdNode:
    pools = [{"cidr": p["cidr"], "vxlan": p["vxlan_mode"] != "Never", "disable_bgp_export": p["disable_bgp_export"]}
             for p in view["pools"]]
    mesh: list[Peer] | None = [] if view["mesh_enabled"] else None
    globals_, node_peers = [], []
    for bp in view["bgp_peers"]:
        peer = Peer(bp["peer_ip"], int(bp["as_number"] or view["as_number"]), bp["port"], bool(bp["passive"]))
        {"mesh": mesh, "global": globals_}.get(bp["type"], node_peers).append(peer)
    return BirdNode(view["name"], view["ip"], int(view["as_number"]), view["blocks"], pools, mesh, globals_, node_peers)
