"""The lab's topology, read from a YAML file (the one place for hosts, subnets and addresses).

`cluster:` becomes a `ClusterConfig`: the pod and service CIDRs, block size, AS number, the
default IPPool and vxlan.calico's VNI and port. Its defaults, for a topology that leaves a key
out, are the ones kubeadm and Calico use; they are set here and nowhere else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import InvalidInput


@dataclass(frozen=True)
class DefaultPool:
    """The IPPool calico-node creates at start-up (CALICO_IPV4POOL_* in Calico's manifest)."""
    name: str = "default-ipv4-ippool"
    ipip_mode: str = "Always"        # CALICO_IPV4POOL_IPIP's default
    vxlan_mode: str = "Never"
    nat_outgoing: bool = True        # CALICO_IPV4POOL_NAT_OUTGOING defaults to true (startup.go)


@dataclass(frozen=True)
class VxlanConfig:
    """vxlan.calico's VNI and UDP port (FelixConfiguration vxlanVNI, vxlanPort defaults)."""
    vni: int = 4096
    port: int = 4789


@dataclass(frozen=True)
class ClusterConfig:
    """The topology's `cluster:` section."""
    # CALICO_IPV4POOL_CIDR's default, used when kubeadm's --pod-network-cidr is not given
    pod_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("192.168.0.0/16")
    block_size: int = 26                 # CALICO_IPV4POOL_BLOCK_SIZE's default (startup.go)
    service_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.96.0.0/12")  # kubeadm's default
    node_pod_cidr_size: int = 24         # kube-controller-manager's --node-cidr-mask-size default
    as_number: int = 64512               # Calico's default AS
    default_pool: DefaultPool = field(default_factory=DefaultPool)
    vxlan: VxlanConfig = field(default_factory=VxlanConfig)


def cluster_config(data: dict | None) -> ClusterConfig:
    """A topology's `cluster:` mapping (YAML keys; the default pool's in IPPool spelling) -> ClusterConfig."""
    data = dict(data or {})
    known = {"pod_cidr", "block_size", "service_cidr", "node_pod_cidr_size", "as_number", "default_pool", "vxlan"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"topology cluster: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    base = ClusterConfig()
    pool = dict(data.get("default_pool") or {})
    vx = dict(data.get("vxlan") or {})
    try:
        return ClusterConfig(
            pod_cidr=ipaddress.IPv4Network(data.get("pod_cidr", base.pod_cidr)),
            block_size=int(data.get("block_size", base.block_size)),
            service_cidr=ipaddress.IPv4Network(data.get("service_cidr", base.service_cidr)),
            node_pod_cidr_size=int(data.get("node_pod_cidr_size", base.node_pod_cidr_size)),
            as_number=int(data.get("as_number", base.as_number)),
            default_pool=DefaultPool(name=str(pool.get("name", base.default_pool.name)),
                                     ipip_mode=str(pool.get("ipipMode", base.default_pool.ipip_mode)),
                                     vxlan_mode=str(pool.get("vxlanMode", base.default_pool.vxlan_mode)),
                                     nat_outgoing=bool(pool.get("natOutgoing", base.default_pool.nat_outgoing))),
            vxlan=VxlanConfig(vni=int(vx.get("vni", base.vxlan.vni)), port=int(vx.get("port", base.vxlan.port))),
        )
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"topology cluster: {e}") from e


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
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class Topology:
    name: str
    cluster: ClusterConfig
    subnets: dict[str, ipaddress.IPv4Network]
    router: RouterSpec
    nodes: list[NodeSpec] = field(default_factory=list)
    source: str = ""
    workers: int | None = None   # `workers=N` it was loaded with (None: the file's own nodes)

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
        return self.cluster.as_number


MAX_WORKERS = 153  # host_base 100 + 153 = .253: the router holds .254 on both racks


def expand_workers(data: dict, workers: int, source: str = "topology") -> list[dict]:
    """The topology's node mappings for a cluster with workers up to number `workers`, by its
    `extra_workers` rule (the one rule the Vagrantfile's KANS_WORKERS follows too)."""
    rule = data.get("extra_workers")
    if not rule:
        raise InvalidInput(f"{source} has no extra_workers rule, so it cannot grow to {workers} workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"workers must be a whole number from 0 to {MAX_WORKERS}, not {workers!r}")
    pattern = str(rule["name"])
    head, _, tail = pattern.partition("{i}")

    def number(name: str) -> int | None:
        mid = name[len(head):len(name) - len(tail)] if name.startswith(head) and name.endswith(tail) else ""
        return int(mid) if mid.isdigit() else None

    listed = [n for n in data["nodes"] if n.get("role", "worker") == "control-plane" or
              number(n["name"]) is None or number(n["name"]) <= workers]
    top = max((number(n["name"]) or 0 for n in data["nodes"]), default=0)
    routers = {v["subnet"]: v["address"].split("/")[0] for v in data["router"]["interfaces"].values()}
    racks = list(rule["racks"])
    extra = []
    for i in range(top + 1, workers + 1):
        rack = racks[i % len(racks)]
        net = ipaddress.ip_network(data["subnets"][rack]["cidr"])
        extra.append({"name": pattern.replace("{i}", str(i)), "role": "worker", "nic": rule.get("nic", "eth1"),
                      "subnet": rack, "address": f"{net.network_address + int(rule['host_base']) + i}/{net.prefixlen}",
                      "gateway": routers[rack]})
    return listed + extra


def load_topology(name_or_path: str | Path = "kans3", workers: int | None = None) -> Topology:
    """Load a packaged topology by name (`kans3`) or any YAML file by path; `workers=N` grows (or
    shrinks) its workers to k8s-w0..k8s-wN by the file's `extra_workers` rule."""
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
            sysctls={str(k): str(v) for k, v in (r.get("sysctls") or {}).items()},
        )
        node_maps = data["nodes"] if workers is None else expand_workers(data, workers, source)
        nodes = [
            NodeSpec(n["name"], n.get("role", "worker"), n.get("nic", "eth1"), n["subnet"],
                     ipaddress.ip_interface(n["address"]), ipaddress.ip_address(n["gateway"]))
            for n in node_maps
        ]
        cluster = cluster_config(data.get("cluster"))
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise InvalidInput(f"topology {source}: {e}") from e
    for n in nodes:
        if n.subnet not in subnets or n.interface.ip not in subnets[n.subnet]:
            raise InvalidInput(f"topology {source}: node {n.name} address {n.interface} is not in subnet {n.subnet}")
    return Topology(data.get("name", path.stem), cluster, subnets, router, nodes, source, workers)
