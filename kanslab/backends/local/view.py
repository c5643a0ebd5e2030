"""Read what the dataplane needs out of the emulated datastore (Calico's own object shapes)."""

from __future__ import annotations

import ipaddress

from ...emulator import felix
from ...emulator.bird import BirdNode, Peer, passive_towards
from ...topology import Topology


def _pools(ds) -> list[felix.PoolInfo]:
    out = []
    for p in ds.list("IPPool"):
        s = p.get("spec", {})
        try:
            cidr = ipaddress.ip_network(s["cidr"])
        except (KeyError, ValueError):
            continue
        if cidr.version != 4:
            continue
        out.append(felix.PoolInfo(cidr, s.get("ipipMode") or "Never", s.get("vxlanMode") or "Never",
                                  bool(s.get("natOutgoing")), bool(s.get("disabled"))))
    return out


def _blocks(ds) -> dict[str, list[str]]:
    by_node: dict[str, list[str]] = {}
    for b in ds.list("IPAMBlock"):
        s = b.get("spec", {})
        aff = s.get("affinity") or ""
        if aff.startswith("host:"):
            by_node.setdefault(aff[5:], []).append(s["cidr"])
    return {k: sorted(v, key=lambda c: ipaddress.ip_network(c)) for k, v in by_node.items()}


def _ann(ds, node: str) -> dict:
    n = ds.get("Node", node) or {}
    return n.get("metadata", {}).get("annotations", {}) or {}


def _pod_records(ds) -> list[dict]:
    weps = {}
    for w in ds.list("WorkloadEndpoint"):
        s = w.get("spec", {})
        weps[(w["metadata"].get("namespace", "default"), s.get("pod") or s.get("workload"))] = s
    out = []
    for p in ds.list("Pod"):
        md, spec, st = p["metadata"], p.get("spec", {}), p.get("status", {})
        ns = md.get("namespace", "default")
        w = weps.get((ns, md["name"]))
        ip = st.get("podIP")
        node = spec.get("nodeName")
        if not (w and ip and node):
            continue
        ports = []
        for c in spec.get("containers", []):
            for port in c.get("ports", []) or []:
                ports.append((int(port["containerPort"]), (port.get("protocol") or "TCP").upper()))
        if not any(proto == "TCP" for _, proto in ports):
            ports.append((80, "TCP"))  # traefik/whoami listens on 80 when nothing is declared
        out.append({"key": f"{ns}/{md['name']}", "uid": md.get("uid", ""), "namespace": ns, "name": md["name"],
                    "node": node, "ip": ip, "ifname": w.get("interfaceName"), "mac": w.get("mac") or "02:00:00:00:00:01",
                    "ports": sorted(set(ports))})
    return out


def pods_by_node(ds) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in _pod_records(ds):
        out.setdefault(p["node"], []).append(p)
    return out


def node_state(ds, topo: Topology, node: str) -> felix.NodeState:
    spec = topo.node(node)
    blocks = _blocks(ds)
    pools = _pools(ds)
    others = []
    for n in topo.nodes:
        if n.name == node:
            continue
        a = _ann(ds, n.name)
        others.append(felix.RemoteNode(n.name, n.ip, blocks.get(n.name, []),
                                       a.get("projectcalico.org/IPv4VXLANTunnelAddr"),
                                       a.get("projectcalico.org/VXLANTunnelMACAddr")))
    borrowed = {}
    for p in _pod_records(ds):
        if p["node"] == node:
            continue
        owner_blocks = blocks.get(p["node"], [])
        if not any(ipaddress.ip_address(p["ip"]) in ipaddress.ip_network(b) for b in owner_blocks):
            borrowed[f"{p['ip']}/32"] = p["node"]
    a = _ann(ds, node)
    return felix.NodeState(node, spec.ip, spec.network, spec.nic, blocks.get(node, []), pools, others, borrowed,
                           a.get("projectcalico.org/IPv4IPIPTunnelAddr"), a.get("projectcalico.org/IPv4VXLANTunnelAddr"),
                           a.get("projectcalico.org/VXLANTunnelMACAddr"))


def _bgp_config(ds) -> dict:
    c = ds.get("BGPConfiguration", "default") or {}
    return c.get("spec", {}) or {}


def _node_labels(ds, node: str) -> dict:
    n = ds.get("Node", node) or {}
    return n.get("metadata", {}).get("labels", {}) or {}


def _split_peer_ip(peer_ip: str) -> tuple[str, int | None]:
    if peer_ip.count(":") == 1:  # "ip:port" (IPv4 with a port)
        ip, port = peer_ip.split(":")
        return ip, int(port)
    return peer_ip, None


def bird_node(ds, topo: Topology, node: str) -> BirdNode:
    spec = topo.node(node)
    cfg = _bgp_config(ds)
    global_as = int(cfg.get("asNumber") or topo.as_number)
    pools = [{"cidr": str(p.cidr), "vxlan": p.vxlan != "Never",
              "disable_bgp_export": False} for p in _pools(ds)]
    for raw in ds.list("IPPool"):
        for p in pools:
            if raw.get("spec", {}).get("cidr") == p["cidr"]:
                p["disable_bgp_export"] = bool(raw["spec"].get("disableBGPExport"))
    mesh = None
    if cfg.get("nodeToNodeMeshEnabled", True):
        mesh = [Peer(n.ip, global_as, passive=passive_towards(spec.ip, n.ip)) for n in topo.nodes if n.name != node]
    globals_, node_peers = [], []
    node_ips = {n.ip for n in topo.nodes}
    for bp in sorted(ds.list("BGPPeer"), key=lambda o: o["metadata"]["name"]):
        s = bp.get("spec", {})
        ip, port = _split_peer_ip(s.get("peerIP", ""))
        if not ip or ip == spec.ip:
            continue
        peer = Peer(ip, int(s.get("asNumber") or global_as), port,
                    passive=ip in node_ips and passive_towards(spec.ip, ip))
        if s.get("node"):
            if s["node"] == node:
                node_peers.append(peer)
        elif s.get("nodeSelector"):
            from ...emulator.selectors import calico_selector

            if calico_selector(s["nodeSelector"])(_node_labels(ds, node)):
                node_peers.append(peer)
        else:
            globals_.append(peer)
    return BirdNode(node, spec.ip, global_as, _blocks(ds).get(node, []), pools, mesh, globals_, node_peers)
