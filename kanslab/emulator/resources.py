"""The emulated control plane's entry points, re-exported from the modules that hold them.

- `transactions`: apply, apply_changes, delete, delete_changes, delete_object(s), patch, set_labels
  (one datastore transaction per call; a failed call changes nothing);
- `kinds`: the kinds the lab emulates (`K8S_KINDS`, `CALICO_KINDS`) and those it refuses;
- `k8s_apply` / `calico_apply`: applying one Kubernetes / Calico object; `calico_node(s)`;
- `bootstrap`: what kubeadm and Calico's manifest leave in the datastore;
- `node_view`: one node's view of the datastore, for the dataplane.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from . import calico_objects as co
from . import ipam
from .bootstrap import bootstrap
from .calico_apply import calico_node, calico_nodes
from .cluster import cluster_spec
from .datastore import Datastore
from .kinds import CALICO_CANONICAL, CALICO_KINDS, K8S_KINDS, KNOWN_ELSEWHERE
from .manifests import load_manifest
from .outcomes import ApplyError, Change
from .selectors import calico_selector
from .transactions import (
    apply,
    apply_changes,
    delete,
    delete_changes,
    delete_object,
    delete_objects,
    patch,
    set_labels,
)

__all__ = ["load_manifest", "apply", "apply_changes", "delete", "delete_changes", "delete_object",
           "delete_objects", "patch", "set_labels", "bootstrap", "node_view", "calico_selector", "calico_node",
           "calico_nodes", "ApplyError", "Change", "K8S_KINDS", "CALICO_KINDS", "CALICO_CANONICAL",
           "KNOWN_ELSEWHERE"]


def _node_as(knode: dict, global_as: int) -> int:
    ann = knode["metadata"].get("annotations") or {}
    return int(ann["projectcalico.org/ASNumber"]) if ann.get("projectcalico.org/ASNumber") else global_as


def _protocol_name(prefix: str, ip: str, port: int | None) -> str:
    pid = ip.replace(".", "_").replace(":", "_")
    return f"{prefix}_{pid}" + (f"_port_{port}" if port else "")


def node_view(ds: Datastore, node_name: str, topology: Any = None) -> dict:
    """Everything the dataplane needs to program one node, read in one snapshot of the datastore.

    Keys: name, ip, address (ip/prefix), network, nic (when `topology` is given), as_number,
    mesh_enabled, blocks, ipip_tunnel_addr, vxlan_tunnel_addr, vxlan_tunnel_mac, pools, nodes (the
    other nodes, same fields plus borrowed_ips), pods (this node's running pods), all_pods,
    namespaces {name: labels}, network_policies, borrowed_ips (IPs this node holds in others'
    blocks), lent_ips (IPs others hold in this node's blocks), remote_borrowed {ip/32: node},
    bgp_peers [{type mesh|global|node, name, peer_ip, port, as_number, protocol_name, passive,
    keep_original_next_hop, password}], felix (merged FelixConfiguration), revision."""
    with ds.snapshot() as tx:
        return _node_view(tx, node_name, topology)


def _node_facts(tx, knode: dict, global_as: int, blocks_by_node: dict, borrowed: list[dict]) -> dict:
    name = knode["metadata"]["name"]
    ann = knode["metadata"].get("annotations") or {}
    iface = ipaddress.ip_interface(ann.get(ipam.ANN_IPV4_ADDRESS) or
                                   next(a["address"] + "/32" for a in knode["status"]["addresses"]
                                        if a["type"] == "InternalIP"))
    return {"name": name, "ip": str(iface.ip), "address": str(iface), "network": str(iface.network),
            "as_number": _node_as(knode, global_as), "labels": dict(knode["metadata"].get("labels") or {}),
            "blocks": blocks_by_node.get(name, []),
            "borrowed_ips": [f"{b['ip']}/32" for b in borrowed if b["borrowing_node"] == name],
            "ipip_tunnel_addr": ann.get(ipam.ANN_IPIP_ADDR), "vxlan_tunnel_addr": ann.get(ipam.ANN_VXLAN_ADDR),
            "vxlan_tunnel_mac": ann.get(ipam.ANN_VXLAN_MAC)}


def _node_view(tx, node_name: str, topology: Any) -> dict:
    knode = tx.get("Node", node_name)
    if knode is None:
        names = ", ".join(n["metadata"]["name"] for n in tx.list("Node"))
        raise ApplyError("Node", node_name, f'nodes "{node_name}" not found (the nodes are {names})',
                         status="NotFound")
    bgpconf = (tx.get("BGPConfiguration", "default") or {}).get("spec") or {}
    global_as = int(bgpconf["asNumber"]) if bgpconf.get("asNumber") is not None else 64512
    mesh_enabled = bgpconf.get("nodeToNodeMeshEnabled", True) is not False
    blocks_by_node: dict[str, list[str]] = {}
    for b in ipam.list_blocks(tx):
        owner = ipam.block_owner(b)
        if owner:
            blocks_by_node.setdefault(owner, []).append(b["spec"]["cidr"])
    borrowed = ipam.borrowed_ips(tx)
    all_nodes = [_node_facts(tx, n, global_as, blocks_by_node, borrowed) for n in tx.list("Node")]
    me = next(n for n in all_nodes if n["name"] == node_name)
    others = [n for n in all_nodes if n["name"] != node_name]
    view = dict(me)
    if topology is not None:
        view["nic"] = cluster_spec(topology).node(node_name).nic
    view["mesh_enabled"] = mesh_enabled
    view["pools"] = [{"name": p["metadata"]["name"], "cidr": p["spec"]["cidr"],
                      "block_size": int(p["spec"].get("blockSize", 26)),
                      "ipip_mode": p["spec"].get("ipipMode") or "Never",
                      "vxlan_mode": p["spec"].get("vxlanMode") or "Never",
                      "nat_outgoing": bool(p["spec"].get("natOutgoing")),
                      "disabled": bool(p["spec"].get("disabled")),
                      "disable_bgp_export": bool(p["spec"].get("disableBGPExport")),
                      "node_selector": p["spec"].get("nodeSelector") or "all()",
                      "selects_node": calico_selector(p["spec"].get("nodeSelector") or "all()")(me["labels"])}
                     for p in ipam.all_pools(tx)]
    view["nodes"] = others
    view["lent_ips"] = [{"ip": f"{b['ip']}/32", "node": b["borrowing_node"]} for b in borrowed
                        if b["block_owner"] == node_name]
    view["remote_borrowed"] = {f"{b['ip']}/32": b["borrowing_node"] for b in borrowed
                               if b["borrowing_node"] != node_name}
    weps = {(w["metadata"]["namespace"], w["spec"]["pod"]): w for w in tx.list("WorkloadEndpoint")}
    all_pods = []
    for pod in tx.list("Pod"):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        status = pod.get("status") or {}
        wep = weps.get((ns, name))
        ports = [{"name": p.get("name"), "containerPort": p["containerPort"], "protocol": p.get("protocol", "TCP")}
                 for c in pod["spec"]["containers"] for p in c.get("ports") or []]
        all_pods.append({"namespace": ns, "name": name, "node": pod["spec"].get("nodeName"),
                         "phase": status.get("phase"), "ip": status.get("podIP"),
                         "labels": dict(pod["metadata"].get("labels") or {}),
                         "interface": wep["spec"]["interfaceName"] if wep else None,
                         "mac": wep["spec"]["mac"] if wep else None, "ports": ports,
                         "wep": wep["metadata"]["name"] if wep else None})
    view["pods"] = [p for p in all_pods if p["node"] == node_name and p["phase"] == "Running"]
    view["all_pods"] = all_pods
    view["namespaces"] = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
                          for n in tx.list("Namespace")}
    view["network_policies"] = tx.list("NetworkPolicy")
    view["bgp_peers"] = _bgp_peers(tx, me, others, mesh_enabled)
    felix = dict((tx.get("FelixConfiguration", "default") or {}).get("spec") or {})
    felix.update((tx.get("FelixConfiguration", f"node.{node_name}") or {}).get("spec") or {})
    view["felix"] = felix
    view["revision"] = tx.revision()
    return view


def _bgp_peers(tx, me: dict, others: list[dict], mesh_enabled: bool) -> list[dict]:
    """Mesh peers (when enabled), then BGPPeers that apply to this node (global, node:, nodeSelector:),
    with peerSelector peers expanded to the selected nodes; never the node itself."""
    peers = []
    if mesh_enabled:
        for o in others:
            peers.append({"type": "mesh", "name": None, "peer_ip": o["ip"], "port": None,
                          "as_number": o["as_number"], "protocol_name": _protocol_name("Mesh", o["ip"], None),
                          # Calico's template: `passive` towards peers whose IP sorts higher (string compare)
                          "passive": o["ip"] > me["ip"], "keep_original_next_hop": False, "password": None})
    for p in tx.list("BGPPeer"):
        s = p["spec"]
        if s.get("node"):
            applies, scope = s["node"] == me["name"], "node"
        elif s.get("nodeSelector"):
            applies, scope = calico_selector(s["nodeSelector"])(me["labels"]), "node"
        else:
            applies, scope = True, "global"
        if not applies:
            continue
        targets = []
        if s.get("peerSelector"):
            sel = calico_selector(s["peerSelector"])
            targets = [(o["ip"], None, o["as_number"]) for o in others if sel(o["labels"])]
        elif s.get("peerIP"):
            ip, port = co.parse_peer_ip(str(s["peerIP"]))
            targets = [(ip, port, s.get("asNumber"))]
        for ip, port, asn in targets:
            if ip == me["ip"]:
                continue
            prefix = "Global" if scope == "global" else "Node"
            peers.append({"type": scope, "name": p["metadata"]["name"], "peer_ip": ip, "port": port,
                          "as_number": int(asn) if asn is not None else me["as_number"],
                          "protocol_name": _protocol_name(prefix, ip, port), "passive": False,
                          "keep_original_next_hop": bool(s.get("keepOriginalNextHop")),
                          "password": s.get("password")})
    return peers
