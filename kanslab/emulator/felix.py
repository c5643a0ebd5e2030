"""What Felix (plus the BIRD fork's krt_tunnel) programs on a node: its view of the datastore and
its decisions, as typed records.

`node_view(ds, node)` reads one snapshot of the datastore into a `NodeView` (pools, blocks, the
other nodes, BGP peers, endpoints, FelixConfiguration); the decisions are pure functions of it:
`bgp_pool_routes` and `vxlan_routes` (routes as `Route` records, with VXLAN's `Neighbour` and
`FdbEntry` entries), `vxlan_device` (vxlan.calico's settings); natOutgoing is `felix_tables`'.
No iproute2 text is made here: the agent renders records where it calls `ip`, and reads the
kernel's `ip -j route` into `Route`s to diff against them.

The endpoint side (`pods`, `all_pods`, `namespaces`, `network_policies`, `felix`) stays plain
data in Kubernetes' shapes; policy.py and felix_metrics read it by key (`view["pods"]`), which
`NodeView` supports next to attribute access.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Any

from . import calico_objects as co
from . import ipam
from . import k8s_objects as k8s
from .cluster import cluster_spec
from .datastore import Datastore
from .outcomes import ApplyError
from .selectors import calico_selector

FELIX_PROTO = "80"   # Felix's route protocol number (vxlan_mgr.go defaultVXLANProto)
BIRD_PROTO = "bird"  # RTPROT_BIRD (12), named in iproute2's rt_protos
DEVICE_PROTO = "boot"  # Felix's DeviceRouteProtocol 3 (RTPROT_BOOT), which `ip route` does not print
VXLAN_DEV = "vxlan.calico"
VXLAN_MTU = 1450     # Felix's default VXLAN MTU for a 1500-byte NIC (vxlanMTU)

# int_dataplane.go findHostMTU / ConfigureDefaultMTUs / determinePodMTU (research/felix-dataplane.md §3)
HOST_IFACE = re.compile(r"^((en|wl|ww|sl|ib)[Pcopsvx].*|(eth|wlan|wwan).*)")
DEFAULT_HOST_MTU = 1460  # when no interface matches
IPIP_OVERHEAD, VXLAN_OVERHEAD = 20, 50


def host_mtu(links: list[dict]) -> int:
    """The smallest MTU among oper-up host links whose names match Felix's pattern (`ip -j link` rows)."""
    mtus = [int(ln["mtu"]) for ln in links if HOST_IFACE.match(ln.get("ifname", ""))
            and (ln.get("operstate") == "UP" or "UP" in (ln.get("flags") or []))]
    return min(mtus) if mtus else DEFAULT_HOST_MTU


def tunnel_mtus(host: int) -> dict[str, int]:
    """IPIPMTU and VXLANMTU left unset (calico.yaml's veth_mtu "0"): the host MTU minus each encap's overhead."""
    return {"ipip": host - IPIP_OVERHEAD, "vxlan": host - VXLAN_OVERHEAD}


def pod_mtu(host: int, pools: list) -> int:
    """What Felix writes to /var/lib/calico/mtu: the smallest MTU among the enabled encapsulations
    (IPIP/VXLAN on while some IPv4 pool uses them), else the host MTU; the CNI reads it at ADD."""
    mtus = tunnel_mtus(host)
    enabled = [mtus["ipip"] for p in pools if p.ipip_mode != "Never"] + \
        [mtus["vxlan"] for p in pools if p.vxlan_mode != "Never"]
    return min(enabled, default=host)



class _ByKey:
    """Read a record's fields by key too (`view["pods"]`, `view.get("felix")`), as the policy
    renderer and the metrics do."""

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


# ---------------------------------------------------------------- the node's view

@dataclass(frozen=True)
class Pool:
    """An IPPool as Felix and BIRD use it; modes keep Calico's values (Always, CrossSubnet, Never)."""
    name: str
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    block_size: int = 26
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"
    nat_outgoing: bool = False
    disabled: bool = False
    disable_bgp_export: bool = False
    node_selector: str = "all()"
    selects_node: bool = True       # whether nodeSelector selects this view's node


@dataclass(frozen=True)
class NodeInfo(_ByKey):
    """A node's address, AS, blocks and tunnel addresses, as the datastore holds them."""
    name: str
    ip: str
    network: ipaddress.IPv4Network
    as_number: int
    labels: dict = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)          # CIDRs of the blocks affine to the node
    borrowed_ips: list[str] = field(default_factory=list)    # /32s it holds in others' blocks
    ipip_tunnel_addr: str | None = None
    vxlan_tunnel_addr: str | None = None
    vxlan_tunnel_mac: str | None = None
    rr_cluster_id: str | None = None    # spec.bgp.routeReflectorClusterID: the node is a route reflector


@dataclass(frozen=True)
class BGPPeerView(_ByKey):
    """One BGP session of the node: mesh, global or node-scoped (`type`), as confd renders it."""
    type: str
    name: str | None
    peer_ip: str
    port: int | None
    as_number: int
    protocol_name: str
    passive: bool = False
    keep_original_next_hop: bool = False
    password: Any = None
    calico_node: bool = False           # the peer is a Calico node (peerSelector peers, reverse peerings)
    rr_client_of: str | None = None     # this node reflects to the peer: `rr client; rr cluster id <this>;`


@dataclass(frozen=True)
class NodeView(NodeInfo):
    """Everything the dataplane needs to program one node, from one snapshot of the datastore."""
    nic: str | None = None                                   # from the topology, when given
    mesh_enabled: bool = True
    static_routes: list[str] = field(default_factory=list)   # BGPConfiguration serviceClusterIPs/ExternalIPs CIDRs
    pools: list[Pool] = field(default_factory=list)
    nodes: list[NodeInfo] = field(default_factory=list)      # the other nodes
    lent_ips: list[dict] = field(default_factory=list)       # [{ip: /32, node}] others hold in our blocks
    remote_borrowed: dict[str, str] = field(default_factory=dict)  # remote pod /32 -> node holding it
    bgp_peers: list[BGPPeerView] = field(default_factory=list)
    pods: list[dict] = field(default_factory=list)           # this node's running pods
    all_pods: list[dict] = field(default_factory=list)
    namespaces: dict[str, dict] = field(default_factory=dict)  # name -> labels
    network_policies: list[dict] = field(default_factory=list)
    calico_policies: list[dict] = field(default_factory=list)  # projectcalico.org/v3 NetworkPolicy + GNP
    felix: dict = field(default_factory=dict)                # merged FelixConfiguration spec
    revision: int = 0

    @property
    def ipv4_pools(self) -> list[Pool]:
        return [p for p in self.pools if p.cidr.version == 4]


def node_view(ds: Datastore, node_name: str, topology: Any = None) -> NodeView:
    """One node's `NodeView`, read in one snapshot of the datastore (`nic` needs the topology)."""
    with ds.snapshot() as tx:
        return read_node_view(tx, node_name, topology)


def _node_as(knode: dict, global_as: int) -> int:
    ann = knode["metadata"].get("annotations") or {}
    return int(ann["projectcalico.org/ASNumber"]) if ann.get("projectcalico.org/ASNumber") else global_as


def _protocol_name(prefix: str, ip: str, port: int | None) -> str:
    pid = ip.replace(".", "_").replace(":", "_")
    return f"{prefix}_{pid}" + (f"_port_{port}" if port else "")


RR_CLUSTER_ID_ANNOTATION = "projectcalico.org/RouteReflectorClusterID"  # KDD's home of the Node's field


def _node_info(knode: dict, global_as: int, blocks_by_node: dict, borrowed: list[dict]) -> NodeInfo:
    name = knode["metadata"]["name"]
    ann = knode["metadata"].get("annotations") or {}
    iface = ipaddress.ip_interface(ann.get(ipam.ANN_IPV4_ADDRESS) or
                                   next(a["address"] + "/32" for a in knode["status"]["addresses"]
                                        if a["type"] == "InternalIP"))
    return NodeInfo(name=name, ip=str(iface.ip), network=iface.network, as_number=_node_as(knode, global_as),
                    labels=dict(knode["metadata"].get("labels") or {}), blocks=blocks_by_node.get(name, []),
                    borrowed_ips=[f"{b['ip']}/32" for b in borrowed if b["borrowing_node"] == name],
                    ipip_tunnel_addr=ann.get(ipam.ANN_IPIP_ADDR), vxlan_tunnel_addr=ann.get(ipam.ANN_VXLAN_ADDR),
                    vxlan_tunnel_mac=ann.get(ipam.ANN_VXLAN_MAC),
                    rr_cluster_id=ann.get(RR_CLUSTER_ID_ANNOTATION) or None)


def _pool(p: dict, node_labels: dict) -> Pool:
    s = p["spec"]
    selector = s.get("nodeSelector") or "all()"
    return Pool(name=p["metadata"]["name"], cidr=ipaddress.ip_network(s["cidr"]),
                block_size=int(s.get("blockSize", 26)), ipip_mode=s.get("ipipMode") or "Never",
                vxlan_mode=s.get("vxlanMode") or "Never", nat_outgoing=bool(s.get("natOutgoing")),
                disabled=bool(s.get("disabled")), disable_bgp_export=bool(s.get("disableBGPExport")),
                node_selector=selector, selects_node=calico_selector(selector)(node_labels))


def _pods(tx) -> list[dict]:
    weps = {(w["metadata"]["namespace"], w["spec"]["pod"]): w for w in tx.list("WorkloadEndpoint")}
    out = []
    for pod in tx.list("Pod"):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        status = pod.get("status") or {}
        wep = weps.get((ns, name))
        ports = [{"name": p.get("name"), "containerPort": p["containerPort"], "protocol": p.get("protocol", "TCP")}
                 for c in pod["spec"]["containers"] for p in c.get("ports") or []]
        out.append({"namespace": ns, "name": name, "node": pod["spec"].get("nodeName"),
                    "phase": status.get("phase"), "ip": status.get("podIP"),
                    "labels": dict(pod["metadata"].get("labels") or {}),
                    "interface": wep["spec"]["interfaceName"] if wep else None,
                    "mac": k8s.pod_mac(pod) if wep else None, "ports": ports,
                    "wep": wep["metadata"]["name"] if wep else None,
                    "service_account": pod["spec"].get("serviceAccountName") or "default"})
    return out


def read_node_view(tx, node_name: str, topology: Any = None) -> NodeView:
    """`node_view` inside an open transaction or snapshot."""
    return read_node_views(tx, [node_name], topology)[node_name]


def node_views(ds: Datastore, node_names: list[str], topology: Any = None) -> dict[str, NodeView]:
    """Several nodes' views from one snapshot, the cluster-wide reads done once (a lab of 100 nodes
    would otherwise parse every object 100 times per reconcile)."""
    with ds.snapshot() as tx:
        return read_node_views(tx, node_names, topology)


def read_node_views(tx, node_names: list[str], topology: Any = None) -> dict[str, NodeView]:
    """`node_views` inside an open transaction or snapshot."""
    knodes = tx.list("Node")
    known = {n["metadata"]["name"] for n in knodes}
    for node_name in node_names:
        if node_name not in known:
            raise ApplyError("Node", node_name, f'nodes "{node_name}" not found (the nodes are {", ".join(sorted(known))})',
                             status="NotFound")
    bgpconf = (tx.get("BGPConfiguration", "default") or {}).get("spec") or {}
    global_as = int(bgpconf["asNumber"]) if bgpconf.get("asNumber") is not None else 64512
    mesh_enabled = bgpconf.get("nodeToNodeMeshEnabled", True) is not False
    # confd's /staticroutes: every node advertises the service CIDRs BGPConfiguration lists
    # (confd/pkg/backends/calico/client.go, onClusterIPsUpdate / onExternalIPsUpdate)
    static_routes = [str(e["cidr"]) for key in ("serviceClusterIPs", "serviceExternalIPs")
                     for e in bgpconf.get(key) or [] if isinstance(e, dict) and e.get("cidr")]
    blocks_by_node: dict[str, list[str]] = {}
    for b in ipam.list_blocks(tx):
        owner = ipam.block_owner(b)
        if owner:
            blocks_by_node.setdefault(owner, []).append(b["spec"]["cidr"])
    borrowed = ipam.borrowed_ips(tx)
    all_nodes = [_node_info(n, global_as, blocks_by_node, borrowed) for n in knodes]
    all_pods = _pods(tx)
    pools = ipam.all_pools(tx)
    namespaces = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {}) for n in tx.list("Namespace")}
    network_policies = tx.list("NetworkPolicy")
    calico_policies = tx.list("CalicoNetworkPolicy") + tx.list("GlobalNetworkPolicy")
    felix_default = (tx.get("FelixConfiguration", "default") or {}).get("spec") or {}
    bgp_peers = tx.list("BGPPeer")
    spec = cluster_spec(topology) if topology is not None else None
    revision = tx.revision()
    views = {}
    for node_name in node_names:
        me = next(n for n in all_nodes if n.name == node_name)
        others = [n for n in all_nodes if n.name != node_name]
        felix = dict(felix_default)
        felix.update((tx.get("FelixConfiguration", f"node.{node_name}") or {}).get("spec") or {})
        mine = {f.name: getattr(me, f.name) for f in fields(NodeInfo)}
        views[node_name] = NodeView(
            **mine,
            nic=spec.node(node_name).nic if spec is not None else None,
            mesh_enabled=mesh_enabled,
            static_routes=static_routes,
            pools=[_pool(p, me.labels) for p in pools],
            nodes=others,
            lent_ips=[{"ip": f"{b['ip']}/32", "node": b["borrowing_node"]} for b in borrowed
                      if b["block_owner"] == node_name],
            remote_borrowed={f"{b['ip']}/32": b["borrowing_node"] for b in borrowed
                             if b["borrowing_node"] != node_name},
            bgp_peers=_bgp_peers(bgp_peers, me, others, mesh_enabled),
            pods=[p for p in all_pods if p["node"] == node_name and p["phase"] == "Running"],
            all_pods=all_pods,
            namespaces=namespaces,
            network_policies=network_policies,
            calico_policies=calico_policies,
            felix=felix,
            revision=revision,
        )
    return views


def _bgp_peers(bgp_peers: list[dict], me: NodeInfo, others: list[NodeInfo], mesh_enabled: bool) -> list[BGPPeerView]:
    """Mesh peers (when enabled), then BGPPeers that apply to this node (global, node:, nodeSelector:),
    with peerSelector peers expanded to the selected nodes; never the node itself.

    As confd does (confd/pkg/backends/calico/client.go, v3.28): a route reflector (a node with a
    cluster ID) has no mesh, and mesh nodes skip reflectors; a peerSelector BGPPeer also gives each
    selected node the reverse peering towards every node the BGPPeer applies to (so the usual
    `nodeSelector: all()` + `peerSelector: route-reflector == 'true'` gives reflectors a Node_ peer per
    client); peers of one node are keyed by IP, the first one kept; on a reflector a same-AS peer with
    another cluster ID is its `rr client`."""
    peers = []
    if mesh_enabled and not me.rr_cluster_id:
        for o in others:
            if o.rr_cluster_id:
                continue  # "# Skipping <ip> (<node>) as it is a route reflector"
            # Calico's template: `passive` towards peers whose IP sorts higher (string compare)
            peers.append(BGPPeerView("mesh", None, o.ip, None, o.as_number, _protocol_name("Mesh", o.ip, None),
                                     passive=o.ip > me.ip))

    compiled: dict[str, Any] = {}

    def selector(expr: str):
        if expr not in compiled:
            compiled[expr] = calico_selector(expr)
        return compiled[expr]

    def applies_to(s: dict, node: NodeInfo) -> tuple[bool, str]:
        if s.get("node"):
            return s["node"] == node.name, "node"
        if s.get("nodeSelector"):
            return selector(s["nodeSelector"])(node.labels), "node"
        return True, "global"

    seen: set[tuple[str, int | None]] = set()
    for p in bgp_peers:
        s = p["spec"]
        applies, scope = applies_to(s, me)
        if s.get("peerSelector"):
            scope = "node"  # confd keeps peerSelector peerings per node (/bgp/v1/host/<node>/peer_v4)
        targets = []  # (ip, port, AS, the peer's node or None)
        if applies and s.get("peerSelector"):
            sel = selector(s["peerSelector"])
            targets = [(o.ip, None, o.as_number, o) for o in others if sel(o.labels)]
        elif applies and s.get("peerIP"):
            ip, port = co.parse_peer_ip(str(s["peerIP"]))
            targets = [(ip, port, s.get("asNumber"), None)]
        if s.get("peerSelector") and selector(s["peerSelector"])(me.labels):
            # the reverse peering: towards every node this BGPPeer applies to
            targets += [(o.ip, None, o.as_number, o) for o in others if applies_to(s, o)[0]]
        for ip, port, asn, onode in targets:
            if ip == me.ip or (ip, port) in seen:
                continue
            seen.add((ip, port))
            peer_as = int(asn) if asn is not None else me.as_number
            prefix = "Global" if scope == "global" else "Node"
            rr_client = (me.rr_cluster_id if me.rr_cluster_id and peer_as == me.as_number
                         and (onode.rr_cluster_id if onode else None) != me.rr_cluster_id else None)
            peers.append(BGPPeerView(scope, p["metadata"]["name"], ip, port, peer_as,
                                     _protocol_name(prefix, ip, port),
                                     passive=onode is not None and ip > me.ip,
                                     keep_original_next_hop=bool(s.get("keepOriginalNextHop")),
                                     password=s.get("password"), calico_node=onode is not None,
                                     rr_client_of=rr_client))
    return peers


# ---------------------------------------------------------------- Felix's decisions

@dataclass(frozen=True)
class Route:
    """A kernel route as data; `dst` always carries its prefix length."""
    dst: str
    dev: str | None = None
    via: str | None = None
    proto: str = BIRD_PROTO
    onlink: bool = False
    type: str = "unicast"        # unicast | blackhole | unreachable ...


@dataclass(frozen=True)
class Neighbour:
    """A permanent ARP entry for a remote VTEP on vxlan.calico."""
    ip: str
    mac: str
    dev: str = VXLAN_DEV


@dataclass(frozen=True)
class FdbEntry:
    """A forwarding entry: the remote VTEP's MAC lives behind the remote node's IP."""
    mac: str
    dst: str
    dev: str = VXLAN_DEV


@dataclass(frozen=True)
class VxlanDevice:
    """vxlan.calico as Felix creates it while a VXLAN pool is in use."""
    vni: int
    port: int
    parent: str
    local: str
    mac: str
    address: str
    mtu: int = VXLAN_MTU
    name: str = VXLAN_DEV


def pool_of(prefix: str, pools: list[Pool]) -> Pool | None:
    return _pool_of(prefix, tuple(pools))


@functools.lru_cache(maxsize=8192)
def _pool_of(prefix: str, pools: tuple[Pool, ...]) -> Pool | None:
    # cached: every route sync asks for each route of two tables, and parsing is most of its CPU
    net = ipaddress.ip_network(prefix, strict=False)
    for p in pools:
        if p.cidr.version == net.version and net.subnet_of(p.cidr):
            return p
    return None


class BlockOwners:
    """Which node's block holds a prefix, for every route of one sync: the blocks are parsed once
    (a lab of 100 nodes has 100 blocks and learns 100 routes; parsing every block for every route
    cost seconds of CPU per sync)."""

    def __init__(self, view: NodeView):
        self.view = view
        self.by_block: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, NodeInfo] = {}
        for o in view.nodes:
            for b in o.blocks:
                self.by_block.setdefault(ipaddress.ip_network(b), o)
        self.lengths = sorted({n.prefixlen for n in self.by_block}, reverse=True)

    def owner_of(self, prefix: str) -> NodeInfo | None:
        """The node that originates a pool prefix: a block's affine node (the longest block holding
        it), else the one holding a /32."""
        net = ipaddress.ip_network(prefix, strict=False)
        view = self.view
        if net.prefixlen == 32 and str(net) in view.remote_borrowed:
            name = view.remote_borrowed[str(net)]
            found = next((o for o in view.nodes if o.name == name), None)
            if found is not None:
                return found
        for length in self.lengths:
            if length <= net.prefixlen:
                owner = self.by_block.get(net.supernet(new_prefix=length) if length < net.prefixlen else net)
                if owner is not None:
                    return owner
        return None


def owner_of(prefix: str, view: NodeView) -> NodeInfo | None:
    """The node that originates a pool prefix: a block's affine node, else the one holding a /32."""
    return BlockOwners(view).owner_of(prefix)


def _same_subnet(view: NodeView, ip: str) -> bool:
    return ipaddress.ip_address(ip) in view.network


def bgp_pool_routes(view: NodeView, learned: list[Route]) -> list[Route]:
    """Routes for BGP-learned pool prefixes (IPIP and no-encap pools), as calico-node's BIRD installs them.

    `learned`: kernel table 200, what BIRD currently has from its peers."""
    pools = view.ipv4_pools
    owners = BlockOwners(view)
    out = []
    for r in learned:
        if r.dst == "default" or r.type in ("blackhole", "unreachable"):
            continue
        pool = pool_of(r.dst, pools)
        if pool is None or pool.vxlan_mode != "Never":
            continue
        owner = owners.owner_of(r.dst)
        hop = owner.ip if owner else r.via
        if hop is None:
            continue
        if pool.ipip_mode == "Always" or (pool.ipip_mode == "CrossSubnet" and not _same_subnet(view, hop)):
            out.append(Route(r.dst, "tunl0", hop, BIRD_PROTO, onlink=True))
        elif r.via is not None:
            # no encapsulation: the route exactly as BIRD resolved it (recursively, via the router across subnets)
            out.append(Route(r.dst, r.dev or view.nic, r.via, BIRD_PROTO))
    return out


def vxlan_routes(view: NodeView) -> tuple[list[Route], list[Neighbour], list[FdbEntry]]:
    """(routes, neighbour entries, fdb entries) Felix programs for VXLAN pools."""
    routes: list[Route] = []
    neigh: list[Neighbour] = []
    fdb: list[FdbEntry] = []
    vx = [p for p in view.ipv4_pools if p.vxlan_mode != "Never"]
    if not vx:
        return routes, neigh, fdb
    for b in view.blocks:
        if pool_of(b, vx):
            routes.append(Route(b, proto=FELIX_PROTO, type="blackhole"))
    for o in view.nodes:
        for b in o.blocks:
            pool = pool_of(b, vx)
            if pool is None:
                continue
            if pool.vxlan_mode == "CrossSubnet" and _same_subnet(view, o.ip):
                routes.append(Route(b, view.nic, o.ip, FELIX_PROTO, onlink=True))
            elif o.vxlan_tunnel_addr:  # the vxlan.calico route table uses DeviceRouteProtocol: no proto shown
                routes.append(Route(b, VXLAN_DEV, o.vxlan_tunnel_addr, DEVICE_PROTO, onlink=True))
        if o.vxlan_tunnel_addr and o.vxlan_tunnel_mac:
            neigh.append(Neighbour(o.vxlan_tunnel_addr, o.vxlan_tunnel_mac))
            fdb.append(FdbEntry(o.vxlan_tunnel_mac, o.ip))
    for ip, owner in sorted(view.remote_borrowed.items()):
        o = next((x for x in view.nodes if x.name == owner), None)
        if o and o.vxlan_tunnel_addr and pool_of(ip, vx):
            routes.append(Route(ip, VXLAN_DEV, o.vxlan_tunnel_addr, DEVICE_PROTO, onlink=True))
    return routes, neigh, fdb


def vxlan_device(view: NodeView, vni: int, port: int, mtu: int = VXLAN_MTU) -> VxlanDevice | None:
    """vxlan.calico while the node holds a VXLAN tunnel address (IPAM gives one while a VXLAN pool
    selects it), else None: Felix removes the device."""
    if not (view.vxlan_tunnel_addr and view.vxlan_tunnel_mac):
        return None
    return VxlanDevice(vni, port, view.nic or "", view.ip, view.vxlan_tunnel_mac, view.vxlan_tunnel_addr, mtu)

