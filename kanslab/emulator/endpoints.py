"""The endpoints and endpointslice controllers, and the two Services kubeadm leaves.

`sync_endpoints(tx)` makes every selector Service's Endpoints and EndpointSlice match the Ready
pods it selects (pkg/controller/endpoint, pkg/controller/endpointslice): a pod counts once it has
an IP and is not being deleted; Ready ones go to `addresses`, others to `notReadyAddresses`
(slices: conditions.ready false). A named targetPort is resolved against the pod's container ports;
a pod without it is left out of that port. Addresses are sorted by IP text, as RepackSubsets does.
Only what differs is written.
"""

from __future__ import annotations

from . import services as svc
from .cluster import ClusterSpec
from .k8s_objects import name_suffix
from .k8s_objects import now as now_rfc3339

MANAGED = svc.MANAGED_BY
# set by the endpoints controller on the Endpoints it writes; its leftover clean-up only touches those
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


def _selected(pod: dict, selector: dict) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _target(pod: dict, port: dict) -> int | None:
    tp = port.get("targetPort", port["port"])
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    for c in pod["spec"].get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == tp and cp.get("protocol", "TCP") == port.get("protocol", "TCP"):
                return cp["containerPort"]
    return None


def _ref(pod: dict) -> dict:
    m = pod["metadata"]
    return {"kind": "Pod", "name": m["name"], "namespace": m["namespace"], "uid": m.get("uid", "")}


def _members(tx, service: dict) -> list[tuple[dict, list[dict]]]:
    """(pod, [resolved port]) for every pod with an IP the Service selects."""
    s = service["spec"]
    out = []
    for pod in tx.list("Pod", service["metadata"]["namespace"]):
        st = pod.get("status") or {}
        if not st.get("podIP") or pod["metadata"].get("deletionTimestamp") or not _selected(pod, s["selector"]):
            continue
        ports = []
        for p in s.get("ports") or []:
            t = _target(pod, p)
            if t is not None:
                entry = {"port": t, "protocol": p.get("protocol", "TCP")}
                if p.get("name"):
                    entry["name"] = p["name"]
                ports.append(entry)
        out.append((pod, ports))
    return sorted(out, key=lambda m: m[0]["status"]["podIP"])


def _address(pod: dict) -> dict:
    return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName"), "targetRef": _ref(pod)}


def desired_endpoints(service: dict, members: list) -> dict:
    m = service["metadata"]
    subsets: dict[str, dict] = {}
    for pod, ports in members:
        if not ports and service["spec"].get("ports"):
            continue
        key = repr(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        sub = subsets.setdefault(key, {"ports": ports})
        sub.setdefault("addresses" if _ready(pod) else "notReadyAddresses", []).append(_address(pod))
    labels = dict(m.get("labels") or {})
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    out = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": m["name"], "namespace": m["namespace"], "labels": labels}}
    subs = [{k: v for k, v in s.items() if v} for s in subsets.values()]
    if subs:
        out["subsets"] = subs
    return out


def desired_slice(service: dict, members: list, name: str) -> dict:
    m = service["metadata"]
    labels = dict(m.get("labels") or {})
    labels.update({MANAGED: svc.SLICE_CONTROLLER, svc.SERVICE_NAME: m["name"]})
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    eps = []
    for pod, _ in members:
        ready = _ready(pod)
        eps.append({"addresses": [pod["status"]["podIP"]],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                    "nodeName": pod["spec"].get("nodeName"), "targetRef": _ref(pod)})
    ports = []
    for p in (service["spec"].get("ports") or []):
        resolved = next((q for _, qs in members for q in qs if q.get("name") == p.get("name")), None)
        entry = {"name": p.get("name", ""), "port": resolved["port"] if resolved else None,
                 "protocol": p.get("protocol", "TCP")}
        if entry["port"] is None:
            del entry["port"]
        ports.append(entry)
    out = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
           "metadata": {"name": name, "namespace": m["namespace"], "labels": labels,
                        "generateName": f"{m['name']}-",
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": m["name"],
                                             "uid": m.get("uid", ""), "controller": True,
                                             "blockOwnerDeletion": True}]},
           "endpoints": eps, "ports": ports}
    return out



def _same(old: dict | None, new: dict) -> bool:
    if old is None:
        return False
    strip = ("uid", "resourceVersion", "creationTimestamp")
    om = {k: v for k, v in old["metadata"].items() if k not in strip}
    nm = {k: v for k, v in new["metadata"].items() if k not in strip}
    for m in (om, nm):
        ann = {k: v for k, v in (m.get("annotations") or {}).items() if k != TRIGGER_TIME}
        m.pop("annotations", None)
        if ann:
            m["annotations"] = ann
    body = lambda o: {k: v for k, v in o.items() if k != "metadata"}  # noqa: E731
    return om == {k: v for k, v in nm.items() if v or k in om} and body(old) == body(new)


def sync_endpoints(tx) -> bool:
    """Bring every selector Service's Endpoints/EndpointSlice in line with its pods; True when something
    was written."""
    changed = False
    live = set()
    for service in tx.list("Service"):
        m = service["metadata"]
        ns, name = m["namespace"], m["name"]
        live.add((ns, name))
        if not service["spec"].get("selector"):
            continue  # the user (or kube-apiserver, for `kubernetes`) keeps those
        members = _members(tx, service)
        ep = desired_endpoints(service, members)
        old = tx.get("Endpoints", name, ns)
        if not _same(old, ep):
            ep["metadata"]["annotations"] = {TRIGGER_TIME: now_rfc3339()}
            tx.put(ep)
            changed = True
        mine = [s for s in tx.list("EndpointSlice", ns)
                if (s["metadata"].get("labels") or {}).get(svc.SERVICE_NAME) == name
                and (s["metadata"].get("labels") or {}).get(MANAGED) == svc.SLICE_CONTROLLER]
        slice_name = mine[0]["metadata"]["name"] if mine else f"{name}-{name_suffix('slice', ns, name)}"
        want = desired_slice(service, members, slice_name)
        old_slice = mine[0] if mine else None
        if not _same(old_slice, want):
            tx.put(want)
            changed = True
        for extra in mine[1:]:
            tx.delete("EndpointSlice", extra["metadata"]["name"], ns)
            changed = True
    for kind in ("Endpoints", "EndpointSlice"):   # a deleted Service's, made by the controllers
        for o in tx.list(kind):
            labels = o["metadata"].get("labels") or {}
            owner = labels.get(svc.SERVICE_NAME) if kind == "EndpointSlice" else o["metadata"]["name"]
            managed = labels.get(MANAGED) == svc.SLICE_CONTROLLER if kind == "EndpointSlice" else True
            if managed and (o["metadata"]["namespace"], owner) not in live and _controller_made(tx, kind, o):
                tx.delete(kind, o["metadata"]["name"], o["metadata"]["namespace"])
                changed = True
    return changed


def _controller_made(tx, kind: str, o: dict) -> bool:
    return kind == "EndpointSlice" or TRIGGER_TIME in (o["metadata"].get("annotations") or {})


# ---------------------------------------------------------------- kubeadm's Services

def ensure_services(tx, spec: ClusterSpec) -> list[str]:
    """`default/kubernetes` and `kube-system/kube-dns`, created when missing; kubectl-style lines."""
    cidr = svc.service_cidr(spec)
    hosts = list(cidr.hosts())
    cp = next((n for n in spec.nodes if n.role == "control-plane"), spec.nodes[0])
    made = []
    if tx.get("Service", "kubernetes", "default") is None:
        ip = str(hosts[0])
        tx.put({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster",
                         "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                         "sessionAffinity": "None", "type": "ClusterIP"},
                "status": {"loadBalancer": {}}})
        made.append("service/kubernetes created")
    if tx.get("Endpoints", "kubernetes", "default") is None:
        # kube-apiserver's endpoint reconciler: its advertise address, no targetRef
        tx.put({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": cp.ip}],
                             "ports": [{"name": "https", "port": svc.API_SERVER_PORT, "protocol": "TCP"}]}]})
        tx.put({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {svc.SERVICE_NAME: "kubernetes"}},
                "endpoints": [{"addresses": [cp.ip], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": svc.API_SERVER_PORT, "protocol": "TCP"}]})
    if tx.get("Service", "kube-dns", "kube-system") is None:
        ip = str(hosts[9])
        tx.put({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": "kube-system",
                             "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
                             "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                        "kubernetes.io/name": "CoreDNS"}},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster",
                         "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                         "ports": [dict(p) for p in svc.KUBE_DNS_PORTS],
                         "selector": {"k8s-app": "kube-dns"}, "sessionAffinity": "None", "type": "ClusterIP"},
                "status": {"loadBalancer": {}}})
        made.append("service/kube-dns created")
    sync_endpoints(tx)
    return made
