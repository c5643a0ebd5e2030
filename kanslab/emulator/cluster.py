"""The cluster facts the control plane needs from a topology, whatever form the topology comes in.

The emulator is handed a `kanslab.topology.Topology` (or its name/path); everything else in the
emulator reads these few facts through `ClusterSpec`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput


@dataclass(frozen=True)
class NodeFacts:
    name: str
    role: str                              # "control-plane" or "worker"
    interface: ipaddress.IPv4Interface     # 192.168.10.10/24: Calico's autodetected IPv4Address
    nic: str = "enp0s8"

    @property
    def ip(self) -> str:
        return str(self.interface.ip)

    @property
    def network(self) -> str:
        return str(self.interface.network)


@dataclass(frozen=True)
class ClusterSpec:
    nodes: list[NodeFacts]
    pod_cidr: ipaddress.IPv4Network
    block_size: int = 26
    node_pod_cidr_size: int = 24
    as_number: int = 64512
    default_pool: dict = field(default_factory=dict)

    def node(self, name: str) -> NodeFacts:
        for n in self.nodes:
            if n.name == name:
                return n
        raise InvalidInput(f"unknown node {name!r}; the lab's nodes are {', '.join(self.node_names)}")

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]


def cluster_spec(topology: Any) -> ClusterSpec:
    """Accepts a `kanslab.topology.Topology` or the name/path of one (read by kanslab.topology only)."""
    if isinstance(topology, ClusterSpec):
        return topology
    if isinstance(topology, (str, Path)):
        from ..topology import load_topology  # late: the topology module belongs to the dataplane side
        topology = load_topology(topology)
    cluster = topology.cluster or {}
    nodes = [NodeFacts(n.name, n.role, n.interface, n.nic) for n in topology.nodes]
    if not nodes:
        raise InvalidInput("the topology has no nodes")
    try:
        pod_cidr = ipaddress.ip_network(cluster.get("pod_cidr", "192.168.0.0/16"))
    except ValueError as e:
        raise InvalidInput(f"topology cluster.pod_cidr: {e}") from e
    return ClusterSpec(
        nodes=nodes,
        pod_cidr=pod_cidr,
        # Calico's own default is 26 (startup.go); KANS's manifest sets 24
        block_size=int(cluster.get("block_size", 26)),
        node_pod_cidr_size=int(cluster.get("node_pod_cidr_size", 24)),
        as_number=int(cluster.get("as_number", 64512)),
        default_pool=dict(cluster.get("default_pool") or {}),
    )
