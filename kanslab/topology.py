"""The lab's topology, read from a YAML file (the one place for hosts, subnets and addresses)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import InvalidInput


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    nic: str
    subnet: str
    interface: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address

    @property
    def ip(self) -> str:
        return str(self.interface.ip)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.interface.network


@dataclass(frozen=True)
class RouterSpec:
    name: str
    as_number: int
    interfaces: dict[str, tuple[str, ipaddress.IPv4Interface]]  # nic -> (subnet, address)
    idc_networks: dict[str, ipaddress.IPv4Interface]
    frr_conf: str


@dataclass
class Topology:
    name: str
    cluster: dict
    subnets: dict[str, ipaddress.IPv4Network]
    router: RouterSpec
    nodes: list[NodeSpec] = field(default_factory=list)
    source: str = ""

    @property
    def hosts(self) -> list[str]:
        return [self.router.name] + [n.name for n in self.nodes]

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise InvalidInput(f"unknown node {name!r}; the nodes are {', '.join(n.name for n in self.nodes)}")

    @property
    def control_plane(self) -> str:
        """Where kubectl and calicoctl run (k8s-m in KANS)."""
        return next((n.name for n in self.nodes if n.role == "control-plane"), self.nodes[0].name)

    @property
    def as_number(self) -> int:
        return int(self.cluster.get("as_number", 64512))


def load_topology(name_or_path: str | Path = "kans3") -> Topology:
    """Load a packaged topology by name (`kans3`) or any YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text, source = path.read_text(), str(path)
    else:
        ref = resources.files("kanslab.topologies") / f"{name_or_path}.yaml"
        if not ref.is_file():
            raise InvalidInput(f"no topology {name_or_path!r} (neither a file nor a packaged topology)")
        text, source = ref.read_text(), f"kanslab/topologies/{name_or_path}.yaml"
    try:
        data = yaml.safe_load(text)
        subnets = {k: ipaddress.ip_network(v["cidr"]) for k, v in data["subnets"].items()}
        r = data["router"]
        router = RouterSpec(
            name=r["name"],
            as_number=int(r["as_number"]),
            interfaces={nic: (v["subnet"], ipaddress.ip_interface(v["address"])) for nic, v in r["interfaces"].items()},
            idc_networks={k: ipaddress.ip_interface(v) for k, v in (r.get("idc_networks") or {}).items()},
            frr_conf=r["frr_conf"],
        )
        nodes = [
            NodeSpec(n["name"], n.get("role", "worker"), n.get("nic", "eth1"), n["subnet"],
                     ipaddress.ip_interface(n["address"]), ipaddress.ip_address(n["gateway"]))
            for n in data["nodes"]
        ]
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise InvalidInput(f"topology {source}: {e}") from e
    for n in nodes:
        if n.subnet not in subnets or n.interface.ip not in subnets[n.subnet]:
            raise InvalidInput(f"topology {source}: node {n.name} address {n.interface} is not in subnet {n.subnet}")
    return Topology(data.get("name", path.stem), data.get("cluster", {}), subnets, router, nodes, source)
