"""The cluster facts the control plane needs from a topology, whatever form the topology comes in.

The emulator is handed either `kanslab.topology.Topology`, the parsed YAML dict, or a name/path;
everything else in the emulator reads these few facts through `ClusterSpec` so it never cares which.
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
    """Accepts a `kanslab.topology.Topology`, a dict as in topologies/*.yaml, or a name/path of one."""
    if isinstance(topology, ClusterSpec):
        return topology
    if isinstance(topology, (str, Path)):
        from ..topology import load_topology  # late: the topology module belongs to the dataplane side
        topology = load_topology(topology)
    if isinstance(topology, dict):
        cluster = topology.get("cluster") or {}
        raw_nodes = topology.get("nodes") or []
        nodes = [NodeFacts(n["name"], n.get("role", "worker"), ipaddress.ip_interface(n["address"]),
                           n.get("nic", "enp0s8")) for n in raw_nodes]
    else:
        cluster = getattr(topology, "cluster", {}) or {}
        nodes = [NodeFacts(n.name, getattr(n, "role", "worker"), ipaddress.ip_interface(str(n.interface)),
                           getattr(n, "nic", "enp0s8")) for n in topology.nodes]
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
