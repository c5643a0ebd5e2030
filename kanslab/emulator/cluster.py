"""The cluster facts the control plane needs from a topology, whatever form the topology comes in.

The emulator is handed a `kanslab.topology.Topology` (or its name/path); everything else in the
emulator reads these few facts through `ClusterSpec`. The defaults live in the topology's
`ClusterConfig` (kanslab/topology.py), not here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..topology import DefaultPool


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
    block_size: int
    node_pod_cidr_size: int
    as_number: int
    default_pool: DefaultPool
    service_cidr: ipaddress.IPv4Network | None = None   # None: the topology's default (ClusterConfig)

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
        from ..topology import load_topology
        topology = load_topology(topology)
    cluster = topology.cluster
    nodes = [NodeFacts(n.name, n.role, n.interface, n.nic) for n in topology.nodes]
    if not nodes:
        raise InvalidInput("the topology has no nodes")
    return ClusterSpec(nodes=nodes, pod_cidr=cluster.pod_cidr, block_size=cluster.block_size,
                       node_pod_cidr_size=cluster.node_pod_cidr_size, as_number=cluster.as_number,
                       default_pool=cluster.default_pool, service_cidr=cluster.service_cidr)
