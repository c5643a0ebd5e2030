"""Services as kube-apiserver stores them, and the endpoints controllers that follow them.

- `apply_service`: validation worded as kube-apiserver words it (pkg/apis/core/validation,
  pkg/registry/core/service), the defaults it stores (clusterIPs, ipFamilies, ipFamilyPolicy,
  internalTrafficPolicy, sessionAffinity, targetPort, externalTrafficPolicy for NodePorts) and the
  ClusterIP / NodePort allocators.
- `sync_endpoints`: the endpoints and endpointslice controllers: an Endpoints object and one
  EndpointSlice per Service with a selector, from the Ready pods it selects (hostNetwork pods give
  their node's IP), named targetPorts resolved against each pod's container ports. Writes only
  what differs, so calling it after every change is cheap and never loops.
- `ensure_services`: what kubeadm leaves: `default/kubernetes` (the first address of the service
  CIDR; its endpoints are the API server's advertise address :6443, kept by kube-apiserver's
  endpoint reconciler) and `kube-system/kube-dns` (the 10th address, selecting the coredns pods).

Allocation: the real allocators pick at random; the lab picks from a hash of the Service's name so
transcripts stay stable. Both use the upper band first, as kube-apiserver 1.30 does for dynamic
allocation (ServiceIPStaticSubrange / ServiceNodePortStaticSubrange: the lower band, min(max(16,
size/16), 256) addresses, resp. min(max(16, size/32), 128) ports, is kept for requested values).
"""

from __future__ import annotations

import hashlib
import ipaddress

from .cluster import ClusterSpec
from .k8s_objects import check_k8s_name
from .kinds import Run, merged_meta, meta_changed, stored_for_write
from .outcomes import ApplyError, Change

NODE_PORT_RANGE = (30000, 32767)   # kube-apiserver --service-node-port-range default
API_SERVER_PORT = 6443
TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SERVICE_NAME = "kubernetes.io/service-name"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
KUBE_DNS_PORTS = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                  {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]


def service_cidr(spec: ClusterSpec) -> ipaddress.IPv4Network:
    if spec.service_cidr is not None:
        return spec.service_cidr
    from ..topology import ClusterConfig  # the one home of the default
    return ClusterConfig().service_cidr


def _invalid(name: str, ns: str, field: str, text: str) -> ApplyError:
    return ApplyError("Service", name, f'Service "{name}" is invalid: {field}: {text}', namespace=ns)


def _pick(candidates: list, seed: str):
    """A free value chosen from a hash of `seed` (stands in for the allocators' random pick)."""
    h = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return candidates[h % len(candidates)]


# ---------------------------------------------------------------- allocation

def _used_ips(tx, skip: tuple[str, str]) -> set[str]:
    out = set()
    for s in tx.list("Service"):
        if (s["metadata"]["namespace"], s["metadata"]["name"]) != skip:
            ip = s["spec"].get("clusterIP")
            if ip and ip != "None":
                out.add(ip)
    return out


def _used_node_ports(tx, skip: tuple[str, str]) -> set[int]:
    return {p["nodePort"] for s in tx.list("Service")
            if (s["metadata"]["namespace"], s["metadata"]["name"]) != skip
            for p in s["spec"].get("ports") or [] if p.get("nodePort")}


def allocate_cluster_ip(tx, spec: ClusterSpec, name: str, ns: str, wanted: str | None) -> str:
    cidr = service_cidr(spec)
    used = _used_ips(tx, (ns, name))
    if wanted:
        try:
            ip = ipaddress.ip_address(wanted)
        except ValueError:
            raise _invalid(name, ns, "spec.clusterIPs[0]", f'Invalid value: "{wanted}": must be a valid IP '
                           "address, (e.g. 10.9.8.7 or 2001:db8::ffff)") from None
        if ip not in cidr or ip in (cidr.network_address, cidr.broadcast_address):
            raise _invalid(name, ns, "spec.clusterIPs", f'Invalid value: []string{{"{wanted}"}}: failed to '
                           f"allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range "
                           f"of valid IPs is {cidr}")
        if wanted in used:
            raise _invalid(name, ns, "spec.clusterIPs", f'Invalid value: []string{{"{wanted}"}}: failed to '
                           f"allocate IP {wanted}: provided IP is already allocated")
        return wanted
    hosts = [str(h) for h in cidr.hosts()]
    band = min(max(16, len(hosts) // 16), 256)
    for pool in (hosts[band:], hosts[:band]):
        free = [h for h in pool if h not in used]
        if free:
            return _pick(free, f"{ns}/{name}")
    raise ApplyError("Service", name, "Internal error occurred: failed to allocate a serviceIP: range is full",
                     namespace=ns, status="InternalError")


def allocate_node_port(used: set[int], name: str, ns: str, index: int, wanted: int | None) -> int:
    lo, hi = NODE_PORT_RANGE
    if wanted:
        if not lo <= wanted <= hi:
            raise _invalid(name, ns, f"spec.ports[{index}].nodePort", f"Invalid value: {wanted}: provided port is "
                           f"not in the valid range. The range of valid ports is {lo}-{hi}")
        if wanted in used:
            raise _invalid(name, ns, f"spec.ports[{index}].nodePort",
                           f"Invalid value: {wanted}: provided port is already allocated")
        return wanted
    ports = list(range(lo, hi + 1))
    band = min(max(16, len(ports) // 32), 128)
    for pool in (ports[band:], ports[:band]):
        free = [p for p in pool if p not in used]
        if free:
            return _pick(free, f"{ns}/{name}:{index}")
    raise ApplyError("Service", name, "Internal error occurred: failed to allocate a nodePort: range is full",
                     namespace=ns, status="InternalError")


# ---------------------------------------------------------------- Service

def _check_ports(name: str, ns: str, typ: str, ports) -> list[dict]:
    if not isinstance(ports, list):
        raise _invalid(name, ns, "spec.ports", "Required value")
    out = []
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            raise _invalid(name, ns, f"spec.ports[{i}]", "Invalid value: must be an object")
        p = dict(p)
        port = p.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise _invalid(name, ns, f"spec.ports[{i}].port", f"Invalid value: {port}: must be between 1 and "
                           "65535, inclusive")
        proto = p.setdefault("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            raise _invalid(name, ns, f"spec.ports[{i}].protocol",
                           f'Unsupported value: "{proto}": supported values: "SCTP", "TCP", "UDP"')
        if len(ports) > 1 and not p.get("name"):
            raise _invalid(name, ns, f"spec.ports[{i}].name", "Required value")
        p.setdefault("targetPort", port)
        if p.get("nodePort") and typ == "ClusterIP":
            raise _invalid(name, ns, f"spec.ports[{i}].nodePort",
                           "Forbidden: may not be used when `type` is 'ClusterIP'")
        out.append(p)
    names = [p.get("name") for p in out if p.get("name")]
    for i, p in enumerate(out):
        if p.get("name") and names.count(p["name"]) > 1:
            raise _invalid(name, ns, f"spec.ports[{i}].name", f'Duplicate value: "{p["name"]}"')
    return out


def build_service(tx, spec: ClusterSpec, obj: dict, old: dict | None) -> dict:
    """The Service kube-apiserver would store for `obj` (an update keeps its ClusterIP and NodePorts)."""
    meta = obj["metadata"]
    name, ns = meta["name"], meta["namespace"]
    s = dict(obj.get("spec") or {})
    typ = s.setdefault("type", "ClusterIP")
    if typ not in TYPES:
        raise _invalid(name, ns, "spec.type", f'Unsupported value: "{typ}": supported values: "ClusterIP", '
                       '"ExternalName", "LoadBalancer", "NodePort"')
    if typ in ("ExternalName", "LoadBalancer"):
        raise ApplyError("Service", name, f"the embedded lab does not emulate Services of type {typ}; it runs "
                         "ClusterIP (headless included) and NodePort Services", namespace=ns, status="NotEmulated")
    headless = s.get("clusterIP") == "None"
    if headless and typ == "NodePort":
        raise _invalid(name, ns, "spec.clusterIP", 'Invalid value: "None": may not be set to \'None\' for '
                       "NodePort services")
    ports = _check_ports(name, ns, typ, s.get("ports") if "ports" in s or not headless else [])
    if not ports and not headless:
        raise _invalid(name, ns, "spec.ports", "Required value")
    old_spec = (old or {}).get("spec") or {}
    if headless:
        ip = "None"
    elif old_spec.get("clusterIP"):
        ip = old_spec["clusterIP"]
        if s.get("clusterIP") and s["clusterIP"] != ip:
            raise _invalid(name, ns, "spec.clusterIPs[0]",
                           f'Invalid value: []string{{"{s["clusterIP"]}"}}: may not change once set')
    else:
        ip = allocate_cluster_ip(tx, spec, name, ns, s.get("clusterIP"))
    if typ == "NodePort":
        used = _used_node_ports(tx, (ns, name))
        kept = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []}
        for i, p in enumerate(ports):
            p["nodePort"] = allocate_node_port(used, name, ns, i, p.get("nodePort") or
                                               kept.get((p["port"], p["protocol"])))
            used.add(p["nodePort"])
        s.setdefault("externalTrafficPolicy", "Cluster")
    else:
        for p in ports:
            p.pop("nodePort", None)
    s["ports"] = ports
    if not ports:
        del s["ports"]
    s["clusterIP"], s["clusterIPs"] = ip, [ip]
    s.setdefault("ipFamilies", ["IPv4"])
    s.setdefault("ipFamilyPolicy", "SingleStack")
    s.setdefault("internalTrafficPolicy", "Cluster")
    s.setdefault("sessionAffinity", "None")
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": s, "status": {"loadBalancer": {}}}


def apply_service(run: Run, obj: dict) -> Change:
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    meta["namespace"] = ns
    check_k8s_name("Service", name, ns, label=True)
    old = stored_for_write(run, "Service", obj, name, ns)
    new = build_service(run.tx, run.spec, obj, old)
    labels, ann = merged_meta(old, obj, run.mode)
    if old is not None and old.get("spec") == new["spec"] and not meta_changed(old, labels, ann):
        return Change("Service", name, ns, "unchanged")
    new["metadata"].update(labels=labels, annotations=ann)
    run.tx.put(new)
    return Change("Service", name, ns, "configured" if old else "created")


def apply_endpoints(run: Run, kind: str, obj: dict) -> Change:
    """Endpoints / EndpointSlices written by hand (for a Service without a selector) are stored as given."""
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    old = stored_for_write(run, kind, obj, name, ns)
    if kind == "EndpointSlice" and obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
        raise ApplyError(kind, name, f'EndpointSlice.discovery.k8s.io "{name}" is invalid: addressType: Required '
                         "value", namespace=ns)
    labels, ann = merged_meta(old, obj, run.mode)
    new = {k: v for k, v in obj.items() if k != "metadata"}
    new["metadata"] = {"name": name, "namespace": ns, "labels": labels, "annotations": ann}
    body = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "apiVersion", "kind")}  # noqa: E731
    if old is not None and body(old) == body(new) and not meta_changed(old, labels, ann):
        return Change(kind, name, ns, "unchanged")
    run.tx.put(new)
    return Change(kind, name, ns, "configured" if old else "created")


def delete_service_endpoints(tx, name: str, ns: str) -> None:
    """The controllers remove a deleted Service's Endpoints and EndpointSlices."""
    tx.delete("Endpoints", name, ns)
    for sl in tx.list("EndpointSlice", ns):
        if (sl["metadata"].get("labels") or {}).get(SERVICE_NAME) == name:
            tx.delete("EndpointSlice", sl["metadata"]["name"], ns)
