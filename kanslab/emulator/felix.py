"""What Felix (plus the BIRD fork's krt_tunnel) would program on a node, as pure functions.

Inputs are plain data (the node's view of the datastore and the BGP routes in kernel table
200); outputs are iproute2 route lines. The agent applies them; tests can check them alone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

FELIX_PROTO = "80"   # Felix's route protocol number (vxlan_mgr.go defaultVXLANProto)
VXLAN_DEV = "vxlan.calico"


@dataclass
class PoolInfo:
    cidr: ipaddress.IPv4Network
    ipip: str = "Never"     # Always | CrossSubnet | Never
    vxlan: str = "Never"
    nat_outgoing: bool = False
    disabled: bool = False


@dataclass
class RemoteNode:
    name: str
    ip: str
    blocks: list[str] = field(default_factory=list)
    vxlan_addr: str | None = None
    vxlan_mac: str | None = None


@dataclass
class NodeState:
    name: str
    ip: str
    network: ipaddress.IPv4Network
    nic: str
    blocks: list[str]
    pools: list[PoolInfo]
    others: list[RemoteNode]
    borrowed: dict[str, str] = field(default_factory=dict)  # remote pod /32 -> node name, for VXLAN
    ipip_addr: str | None = None      # this node's tunl0 address while an IPIP pool is enabled
    vxlan_addr: str | None = None     # this node's vxlan.calico address while a VXLAN pool is enabled
    vxlan_mac: str | None = None


def pool_of(prefix: str, pools: list[PoolInfo]) -> PoolInfo | None:
    net = ipaddress.ip_network(prefix, strict=False)
    for p in pools:
        if net.subnet_of(p.cidr):
            return p
    return None


def owner_of(prefix: str, node: NodeState) -> RemoteNode | None:
    """The node that originates a pool prefix: a block's affine node, else the one holding a /32."""
    net = ipaddress.ip_network(prefix, strict=False)
    best, best_len = None, -1
    for o in node.others:
        for b in o.blocks:
            bn = ipaddress.ip_network(b)
            if net.subnet_of(bn) and bn.prefixlen > best_len:
                best, best_len = o, bn.prefixlen
    if net.prefixlen == 32 and str(net) in node.borrowed:
        name = node.borrowed[str(net)]
        return next((o for o in node.others if o.name == name), best)
    return best


def _same_subnet(node: NodeState, ip: str) -> bool:
    return ipaddress.ip_address(ip) in node.network


def bgp_pool_routes(node: NodeState, table200: list[dict]) -> list[str]:
    """Routes for BGP-learned pool prefixes (IPIP and no-encap pools), as calico-node's BIRD installs them.

    table200 is `ip -j route show table 200`: what BIRD currently has from its peers."""
    out = []
    for r in table200:
        dst = r.get("dst")
        if not dst or dst == "default" or r.get("type") in ("blackhole", "unreachable"):
            continue
        if "/" not in dst:
            dst += "/32"
        pool = pool_of(dst, node.pools)
        if pool is None or pool.vxlan != "Never":
            continue
        owner = owner_of(dst, node)
        hop = owner.ip if owner else r.get("gateway")
        if hop is None:
            continue
        tunnel = pool.ipip == "Always" or (pool.ipip == "CrossSubnet" and not _same_subnet(node, hop))
        if tunnel:
            out.append(f"{dst} via {hop} dev tunl0 proto bird onlink")
        else:
            # no encapsulation: the route exactly as BIRD resolved it (recursively, via the router across subnets)
            gw, dev = r.get("gateway"), r.get("dev", node.nic)
            if gw is None:
                continue
            out.append(f"{dst} via {gw} dev {dev} proto bird")
    return sorted(out)


def vxlan_routes(node: NodeState) -> tuple[list[str], list[str], list[str]]:
    """(routes, neighbour entries, fdb entries) Felix programs for VXLAN pools."""
    routes, neigh, fdb = [], [], []
    vx = [p for p in node.pools if p.vxlan != "Never"]
    if not vx:
        return routes, neigh, fdb
    for b in node.blocks:
        if pool_of(b, vx):
            routes.append(f"blackhole {b} proto {FELIX_PROTO}")
    for o in node.others:
        for b in o.blocks:
            pool = pool_of(b, vx)
            if pool is None:
                continue
            if pool.vxlan == "CrossSubnet" and _same_subnet(node, o.ip):
                routes.append(f"{b} via {o.ip} dev {node.nic} proto {FELIX_PROTO} onlink")
            elif o.vxlan_addr:
                routes.append(f"{b} via {o.vxlan_addr} dev {VXLAN_DEV} proto {FELIX_PROTO} onlink")
        if o.vxlan_addr and o.vxlan_mac:
            neigh.append(f"{o.vxlan_addr} lladdr {o.vxlan_mac} dev {VXLAN_DEV} nud permanent")
            fdb.append(f"{o.vxlan_mac} dev {VXLAN_DEV} dst {o.ip} self permanent")
    for ip, owner in sorted(node.borrowed.items()):
        o = next((x for x in node.others if x.name == owner), None)
        if o and o.vxlan_addr and pool_of(ip, vx):
            routes.append(f"{ip} via {o.vxlan_addr} dev {VXLAN_DEV} proto {FELIX_PROTO} onlink")
    return sorted(routes), sorted(neigh), sorted(fdb)
