"""Applying the projectcalico.org/v3 kinds (IPPool, BGPPeer, BGPConfiguration, FelixConfiguration,
KubeControllersConfiguration, IPReservation, Node), and Calico's Node as derived from the
Kubernetes Node (Calico's Kubernetes datastore driver keeps no Node object of its own).
"""

from __future__ import annotations

import json

from . import calico_objects as co
from . import calico_policy as cpol
from . import ipam
from .datastore import Datastore
from .kinds import Run, already_exists, check_resource_version, not_found, stored_for_write
from .outcomes import ApplyError, Change


def apply_calico(run: Run, kind: str, obj: dict) -> Change:
    name = obj["metadata"]["name"]
    old = run.tx.get(kind, name)
    if kind == "IPPool":
        new = co.normalize_ippool(obj, old, run.tx.list("IPPool"))
    elif kind == "BGPPeer":
        new = co.normalize_bgppeer(obj)
    elif kind == "BGPConfiguration":
        new = co.normalize_bgpconfig(obj)
    elif kind == "FelixConfiguration":
        new = co.normalize_felixconfig(obj)
    elif kind == "IPReservation":
        new = co.normalize_ipreservation(obj)
    else:
        new = co.normalize_kubecontrollersconfig(obj)
    if old is not None and run.mode == "create":
        raise already_exists(kind, name, None)
    check_resource_version(kind, obj, old)
    if old is not None:
        # calicoctl's mergeMetadataForUpdate: stored labels/annotations, overlaid by the new ones
        for key in ("labels", "annotations"):
            merged = dict(old["metadata"].get(key) or {})
            merged.update(new["metadata"].get(key) or {})
            if merged:
                new["metadata"][key] = merged
        if old.get("spec") == new["spec"] and (old["metadata"].get("labels") or {}) == \
                (new["metadata"].get("labels") or {}):
            return Change(kind, name, None, "unchanged")
    run.tx.put(new)
    if kind == "IPPool":
        run.reconcile = True
    return Change(kind, name, None, "configured" if old else "created")


def apply_calico_node(run: Run, obj: dict) -> Change:
    """A projectcalico.org/v3 Node updates the Kubernetes Node it is derived from (Calico's KDD)."""
    name = obj["metadata"]["name"]
    knode = run.tx.get("Node", name)
    if knode is None:
        raise not_found("CalicoNode", name, None)
    if run.mode == "create":
        raise ApplyError("CalicoNode", name, f"operation Create is not supported on Node({name})",
                         status="AlreadyExists")
    current = calico_node(run.tx, name)
    check_resource_version("CalicoNode", obj, current)
    bgp = (obj.get("spec") or {}).get("bgp") or {}
    ann = dict(knode["metadata"].get("annotations") or {})
    if bgp.get("ipv4Address") and bgp["ipv4Address"] != ann.get(ipam.ANN_IPV4_ADDRESS):
        raise ApplyError("CalicoNode", name, "the embedded lab's node addresses come from its topology; "
                         f"spec.bgp.ipv4Address stays {ann.get(ipam.ANN_IPV4_ADDRESS)}", status="Forbidden")
    for field, key in (("asNumber", "projectcalico.org/ASNumber"),
                       ("routeReflectorClusterID", "projectcalico.org/RouteReflectorClusterID")):
        if bgp.get(field) not in (None, ""):
            value = bgp[field]
            if field == "asNumber":
                try:
                    value = str(co.asn_value(value))
                except ValueError:
                    raise ApplyError("CalicoNode", name, co.calico_field_error([(
                        "ASNumber", bgp[field], "Reason: AS number must be between 0 and 4294967295")])) from None
            ann[key] = str(value)
        else:
            ann.pop(key, None)
    labels = dict(knode["metadata"].get("labels") or {})
    labels.update((obj.get("metadata") or {}).get("labels") or {})
    if labels == (knode["metadata"].get("labels") or {}) and ann == (knode["metadata"].get("annotations") or {}):
        return Change("CalicoNode", name, None, "unchanged")
    knode["metadata"]["labels"], knode["metadata"]["annotations"] = labels, ann
    run.tx.put(knode)
    run.reconcile = True
    return Change("CalicoNode", name, None, "configured")



def calico_node(tx_or_ds, name: str) -> dict | None:
    """Calico's projectcalico.org/v3 Node, derived from the Kubernetes Node as Calico's KDD does."""
    knode = tx_or_ds.get("Node", name)
    if knode is None:
        return None
    meta, ann = knode["metadata"], knode["metadata"].get("annotations") or {}
    bgp: dict = {}
    if ann.get(ipam.ANN_IPV4_ADDRESS):
        bgp["ipv4Address"] = ann[ipam.ANN_IPV4_ADDRESS]
    if ann.get(ipam.ANN_IPIP_ADDR):
        bgp["ipv4IPIPTunnelAddr"] = ann[ipam.ANN_IPIP_ADDR]
    if ann.get("projectcalico.org/ASNumber"):
        bgp["asNumber"] = int(ann["projectcalico.org/ASNumber"])
    if ann.get("projectcalico.org/RouteReflectorClusterID"):
        bgp["routeReflectorClusterID"] = ann["projectcalico.org/RouteReflectorClusterID"]
    spec: dict = {}
    internal = next((a["address"] for a in knode.get("status", {}).get("addresses", [])
                     if a.get("type") == "InternalIP"), None)
    addresses = []
    if bgp.get("ipv4Address"):
        addresses.append({"address": bgp["ipv4Address"], "type": "CalicoNodeIP"})
    if internal:
        addresses.append({"address": internal, "type": "InternalIP"})
    spec["addresses"] = addresses
    if bgp:
        spec["bgp"] = bgp
    if ann.get(ipam.ANN_VXLAN_ADDR):
        spec["ipv4VXLANTunnelAddr"] = ann[ipam.ANN_VXLAN_ADDR]
    if ann.get(ipam.ANN_VXLAN_MAC):
        spec["vxlanTunnelMACAddr"] = ann[ipam.ANN_VXLAN_MAC]
    spec["orchRefs"] = [{"nodeName": name, "orchestrator": "k8s"}]  # api NodeSpec json:"orchRefs"
    labels = dict(meta.get("labels") or {})
    out_meta = {"annotations": {"projectcalico.org/kube-labels": json.dumps(labels, separators=(",", ":"),
                                                                              sort_keys=True)},
                "creationTimestamp": meta.get("creationTimestamp"), "labels": labels, "name": name,
                "resourceVersion": meta.get("resourceVersion"), "uid": meta.get("uid")}
    return {"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": out_meta, "spec": spec,
            "status": {"podCIDRs": list(knode.get("spec", {}).get("podCIDRs") or [])}}


def calico_nodes(ds: Datastore) -> list[dict]:
    return [calico_node(ds, n["metadata"]["name"]) for n in ds.list("Node")]



def apply_calico_policy(run: Run, kind: str, obj: dict) -> Change:
    """projectcalico.org/v3 NetworkPolicy (canonical CalicoNetworkPolicy) and GlobalNetworkPolicy."""
    meta = obj["metadata"]
    name, ns = meta["name"], None
    if kind == "CalicoNetworkPolicy":
        ns = meta["namespace"] = meta.get("namespace") or "default"
    new = cpol.normalize(kind, obj)  # clientv3 validates before the datastore is asked anything
    old = stored_for_write(run, kind, obj, name, ns)
    if old is not None:
        if old.get("spec") == new["spec"] and (old["metadata"].get("labels") or {}) == \
                (new["metadata"].get("labels") or {}):
            return Change(kind, name, ns, "unchanged")
    run.tx.put(new)
    return Change(kind, name, ns, "configured" if old else "created")
