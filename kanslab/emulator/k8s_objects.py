"""Kubernetes objects the lab emulates (Namespace, Node, Pod, NetworkPolicy): building, validating,
scheduling, and what Calico's CNI plugin does when a pod starts (IPAM, annotations, WorkloadEndpoint)."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
import time
from datetime import datetime, timezone

from . import ipam, node_capacity, pod_status
from .cluster import ClusterSpec, NodeFacts
from .outcomes import ApplyError

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANN_CONTAINER_ID = "cni.projectcalico.org/containerID"
ANN_POD_IP = "cni.projectcalico.org/podIP"
ANN_POD_IPS = "cni.projectcalico.org/podIPs"
ANN_IP_ADDRS = "cni.projectcalico.org/ipAddrs"
ANN_HW_ADDR = "cni.projectcalico.org/hwAddr"
ANN_IPV4POOLS = "cni.projectcalico.org/ipv4pools"
CNI_WRITTEN = (ANN_CONTAINER_ID, ANN_POD_IP, ANN_POD_IPS)
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"

# KANS3 provisions Kubernetes 1.30 with containerd on ubuntu/jammy64 (research 1.2/0.2); the exact
# patch versions below are representative, not observed.
NODE_INFO = {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.22",
             "kernelVersion": "5.15.0-119-generic", "kubeProxyVersion": "v1.30.5",
             "kubeletVersion": "v1.30.5", "operatingSystem": "linux", "osImage": "Ubuntu 22.04.4 LTS"}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# what the DaemonSet controller adds to every pod it creates (pkg/controller/daemon/util
# AddOrUpdateDaemonPodTolerations); hostNetwork pods also tolerate network-unavailable
DAEMON_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists"},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node.kubernetes.io/disk-pressure", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node.kubernetes.io/memory-pressure", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node.kubernetes.io/pid-pressure", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable", "operator": "Exists"},
]
_NETWORK_UNAVAILABLE = {"effect": "NoSchedule", "key": "node.kubernetes.io/network-unavailable", "operator": "Exists"}


def daemon_tolerations(spec: dict) -> list[dict]:
    """A daemon pod's tolerations: the template's, then each of the controller's it lacks."""
    out = list(spec.get("tolerations") or [])
    for t in DAEMON_TOLERATIONS + ([_NETWORK_UNAVAILABLE] if spec.get("hostNetwork") else []):
        if t not in out:
            out.append(dict(t))
    return out

# k8s.io/apimachinery/pkg/util/rand: the letters of generated names (no vowels, no 0/1/3 lookalikes)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def name_suffix(*parts: str, n: int = 5) -> str:
    """n characters of NAME_ALPHABET drawn from a hash of `parts`: util/rand.String is random on a
    cluster; here every lab gets the same names."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:n])


def go_time_now() -> str:
    """Go's `time.Now().UTC().String()`, the CNI plugin's IPAM `timestamp` attribute (cni-plugin
    ipam_plugin.go): layout "2006-01-02 15:04:05.999999999 -0700 MST", so the nanoseconds lose their
    trailing zeros (and vanish when zero); UTC() drops the monotonic "m=+..." suffix."""
    ns = time.time_ns()
    t = datetime.fromtimestamp(ns // 10**9, timezone.utc)
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def check_k8s_name(kind: str, name: str, namespace: str | None = None, label: bool = False) -> None:
    rx, what = (_DNS_LABEL, "RFC 1123 label") if label else (_DNS_SUBDOMAIN, "RFC 1123 subdomain")
    if not name:
        raise ApplyError(kind, name, "resource name may not be empty", namespace=namespace, status="BadRequest")
    if not rx.match(name) or len(name) > (63 if label else 253):
        raise ApplyError(kind, name, f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                         f"a lowercase {what} must consist of lower case alphanumeric characters, '-' or '.', "
                         "and must start and end with an alphanumeric character", namespace=namespace)


def three_way(old: dict, last_applied: dict, new: dict) -> dict:
    """kubectl apply's merge for a string map: keep what others added, replace what the manifest owns."""
    out = {k: v for k, v in old.items() if k not in last_applied}
    out.update(new)
    return out


def differs(new: object, old: object) -> bool:
    """True when `new` sets something `old` does not have (keys absent from `new` are left alone,
    as kubectl apply leaves server-set fields)."""
    if isinstance(new, dict) and isinstance(old, dict):
        return any(differs(v, old.get(k)) for k, v in new.items())
    if isinstance(new, list) and isinstance(old, list):
        return len(new) != len(old) or any(differs(a, b) for a, b in zip(new, old, strict=True))
    return new != old


# ---------------------------------------------------------------- Namespace

def build_namespace(name: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    lb = dict(labels or {})
    lb["kubernetes.io/metadata.name"] = name  # set by the API server on every namespace
    meta = {"name": name, "labels": lb}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


# ---------------------------------------------------------------- Node

def pod_cidr_for(spec: ClusterSpec, index: int) -> str:
    """kube-controller-manager's range allocator: the index-th /node_pod_cidr_size of the pod CIDR."""
    size = 2 ** (32 - spec.node_pod_cidr_size)
    base = int(spec.pod_cidr.network_address) + index * size
    return f"{ipaddress.ip_address(base)}/{spec.node_pod_cidr_size}"


def build_node(spec: ClusterSpec, facts: NodeFacts, index: int) -> dict:
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": facts.name, "kubernetes.io/os": "linux"}
    node_spec: dict = {"podCIDR": pod_cidr_for(spec, index), "podCIDRs": [pod_cidr_for(spec, index)]}
    if facts.role == "control-plane":
        labels[CONTROL_PLANE_TAINT] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        node_spec["taints"] = [{"effect": "NoSchedule", "key": CONTROL_PLANE_TAINT}]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": facts.name, "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                ipam.ANN_IPV4_ADDRESS: str(facts.interface),
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": node_spec,
        "status": {
            "addresses": [{"address": facts.ip, "type": "InternalIP"}, {"address": facts.name, "type": "Hostname"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
            "nodeInfo": dict(NODE_INFO),
            **dict(zip(("capacity", "allocatable"), node_capacity.capacity(facts.role), strict=True)),
        },
    }


# ---------------------------------------------------------------- Pod: validation

def validate_pod(obj: dict, spec: ClusterSpec) -> None:
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name", ""), meta.get("namespace") or "default"
    check_k8s_name("Pod", name, ns)
    pspec = obj.get("spec")
    containers = (pspec or {}).get("containers") if isinstance(pspec, dict) else None
    if not isinstance(containers, list) or not containers:
        raise ApplyError("Pod", name, f'Pod "{name}" is invalid: spec.containers: Required value', namespace=ns)
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            raise ApplyError("Pod", name, f'Pod "{name}" is invalid: spec.containers[{i}].name: Required value',
                             namespace=ns)
        if not c.get("image"):
            raise ApplyError("Pod", name, f'Pod "{name}" is invalid: spec.containers[{i}].image: Required value',
                             namespace=ns)
        for j, p in enumerate(c.get("ports") or []):
            where = f"spec.containers[{i}].ports[{j}]"
            port = p.get("containerPort") if isinstance(p, dict) else None
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise ApplyError("Pod", name, f'Pod "{name}" is invalid: {where}.containerPort: Invalid value: '
                                 f"{port!r}: must be between 1 and 65535, inclusive", namespace=ns)
            proto = p.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                raise ApplyError("Pod", name, f'Pod "{name}" is invalid: {where}.protocol: Unsupported value: '
                                 f'"{proto}": supported values: "SCTP", "TCP", "UDP"', namespace=ns)
            pname = p.get("name")
            if pname is not None and (not isinstance(pname, str) or len(pname) > 15
                                      or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", pname)):
                raise ApplyError("Pod", name, f'Pod "{name}" is invalid: {where}.name: Invalid value: "{pname}": '
                                 "must be no more than 15 characters (an IANA_SVC_NAME)", namespace=ns)
    node_name = pspec.get("nodeName")
    if node_name and node_name not in spec.node_names:
        raise ApplyError("Pod", name, f'Pod "{name}" is invalid: spec.nodeName: Not found: "{node_name}" '
                         f"(the lab's nodes are {', '.join(spec.node_names)})", namespace=ns, status="NotFound")
    selector = pspec.get("nodeSelector")
    if selector is not None and not (isinstance(selector, dict)
                                     and all(isinstance(v, str) for v in selector.values())):
        raise ApplyError("Pod", name, f'Pod "{name}" is invalid: spec.nodeSelector: must be a map of '
                         "label names to string values", namespace=ns)
    ann = meta.get("annotations") or {}
    if ANN_IP_ADDRS in ann:
        parse_ip_addrs(ann[ANN_IP_ADDRS], name, ns)
    if ANN_HW_ADDR in ann and not _MAC.match(str(ann[ANN_HW_ADDR])):
        raise ApplyError("Pod", name, f'plugin type="calico" failed (add): failed to parse MAC address '
                         f'"{ann[ANN_HW_ADDR]}" from annotation {ANN_HW_ADDR}', namespace=ns, status="CNIError")


def parse_ip_addrs(value: str, name: str, ns: str) -> list[str]:
    """The ipAddrs annotation: a JSON list with at most one IPv4 (and one IPv6) address."""
    try:
        ips = json.loads(value)
        if not isinstance(ips, list) or not all(isinstance(x, str) for x in ips):
            raise ValueError
        parsed = [ipaddress.ip_address(x) for x in ips]
    except ValueError:
        raise ApplyError("Pod", name, f'plugin type="calico" failed (add): failed to parse {ANN_IP_ADDRS} '
                         f"{value!r}: it must be a JSON list of IP addresses such as '[\"172.16.1.10\"]'",
                         namespace=ns, status="CNIError") from None
    v4 = [str(a) for a in parsed if a.version == 4]
    if len(v4) > 1 or len(parsed) - len(v4) > 1:
        raise ApplyError("Pod", name, 'plugin type="calico" failed (add): cannot have more than one IPv4 '
                         f"and one IPv6 address in {ANN_IP_ADDRS}", namespace=ns, status="CNIError")
    if len(v4) != len(parsed):
        raise ApplyError("Pod", name, "the embedded lab is IPv4-only; drop the IPv6 address from "
                         f"{ANN_IP_ADDRS}", namespace=ns, status="CNIError")
    return v4


# ---------------------------------------------------------------- Pod: scheduling

def _tolerates(tolerations: list, taint: dict) -> bool:
    for t in tolerations or []:
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == taint["key"] and (not t.get("effect") or t.get("effect") == taint["effect"]):
            if t.get("operator", "Equal") == "Exists" or t.get("value", "") == taint.get("value", ""):
                return True
    return False


def schedule(tx, spec: ClusterSpec, pod_spec: dict) -> tuple[str | None, str]:
    """(node, "") or (None, why Pending): nodeName wins, else nodeSelector + taints, fewest pods first."""
    if pod_spec.get("nodeName"):
        return pod_spec["nodeName"], ""
    selector = pod_spec.get("nodeSelector") or {}
    fits, tainted, unmatched = [], 0, 0
    for facts in spec.nodes:
        node = tx.get("Node", facts.name)
        labels = (node or {}).get("metadata", {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            unmatched += 1
            continue
        taints = (node or {}).get("spec", {}).get("taints") or []
        if any(t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod_spec.get("tolerations"), t)
               for t in taints):
            tainted += 1
            continue
        fits.append(facts.name)
    if not fits:
        total = len(spec.nodes)
        parts = []
        if tainted:
            parts.append(f"{tainted} node(s) had untolerated taint {{{CONTROL_PLANE_TAINT}: }}")
        if unmatched:
            parts.append(f"{unmatched} node(s) didn't match Pod's node affinity/selector")
        return None, (f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes are "
                      f"available: {total} Preemption is not helpful for scheduling.")
    load = {n: 0 for n in fits}
    for pod in tx.list("Pod"):
        n = pod.get("spec", {}).get("nodeName")
        if n in load:
            load[n] += 1
    # default-scheduler spreads pods without requests; the fewest-pods-first tie-break keeps it reproducible
    return min(fits, key=lambda n: (load[n], fits.index(n))), ""


# ---------------------------------------------------------------- Pod: what the CNI plugin does

def interface_name(namespace: str, pod: str) -> str:
    """Calico's host-side veth name: cali + first 11 hex digits of sha1("<namespace>.<pod>")."""
    return "cali" + hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()[:11]


def wep_name(node: str, pod: str, endpoint: str = "eth0") -> str:
    """<node>-k8s-<pod>-<endpoint>, with every '-' inside a segment doubled (Calico's names.WorkloadEndpointIdentifiers)."""
    return "-".join(seg.replace("-", "--") for seg in (node, "k8s", pod, endpoint))


def _pool_names(pod: dict, namespace_obj: dict | None) -> list[str] | None:
    for source in (pod, namespace_obj or {}):
        value = (source.get("metadata", {}).get("annotations") or {}).get(ANN_IPV4POOLS)
        if value:
            try:
                names = json.loads(value)
                if isinstance(names, list):
                    return [str(n) for n in names]
            except ValueError:
                pass
            raise ApplyError("Pod", pod["metadata"]["name"], f'plugin type="calico" failed (add): failed to parse '
                             f"{ANN_IPV4POOLS} {value!r}", namespace=pod["metadata"].get("namespace"),
                             status="CNIError")
    return None


def container_id(namespace: str, name: str, uid_seed: str) -> str:
    return hashlib.sha256(f"{namespace}/{name}/{uid_seed}".encode()).hexdigest()


def start_pod(tx, pod: dict, node: str, seed: str) -> dict:
    """Run Calico's CNI ADD for a scheduled pod: IPAM, pod annotations/status, WorkloadEndpoint."""
    meta, ns, name = pod["metadata"], pod["metadata"]["namespace"], pod["metadata"]["name"]
    ann = meta.setdefault("annotations", {})
    cid = container_id(ns, name, seed)
    handle = f"k8s-pod-network.{cid}"
    attrs = {"namespace": ns, "node": node, "pod": name, "timestamp": go_time_now()}
    try:
        wanted = parse_ip_addrs(ann[ANN_IP_ADDRS], name, ns) if ANN_IP_ADDRS in ann else []
        if wanted:
            ip = ipam.assign_ip(tx, node, wanted[0], handle, attrs)
        else:
            ip = ipam.auto_assign(tx, node, handle, attrs, pool_names=_pool_names(pod, tx.get("Namespace", ns)))
    except ipam.IpamError as e:
        # real Kubernetes would leave the pod in ContainerCreating with this event; the lab refuses it
        raise ApplyError("Pod", name, f'plugin type="calico" failed (add): {e}', namespace=ns,
                         status="CNIError") from None
    ann[ANN_CONTAINER_ID] = cid
    ann[ANN_POD_IP] = f"{ip}/32"
    ann[ANN_POD_IPS] = f"{ip}/32"
    knode = tx.get("Node", node) or {}
    host_ip = next((a["address"] for a in knode.get("status", {}).get("addresses", [])
                    if a.get("type") == "InternalIP"), "")
    started = now()
    pod["spec"]["nodeName"] = node
    ids = [container_id(ns, name, f"{seed}/{c['name']}") for c in pod["spec"]["containers"]]
    pod["status"] = pod_status.running(pod, host_ip, ip, started, container_ids=ids)
    tx.put(build_wep(pod, node, ip, cid))
    return pod


def pod_mac(pod: dict) -> str:
    """The MAC of the pod's eth0: the hwAddr annotation's, else one the lab draws for the kernel's random
    one. Calico's WorkloadEndpoint does not carry it (KDD builds WEPs from pods: conversion/
    workload_endpoint_default.go), so the dataplane takes it from here."""
    meta = pod["metadata"]
    ann = meta.get("annotations") or {}
    if ANN_HW_ADDR in ann:
        return str(ann[ANN_HW_ADDR]).lower().replace("-", ":")
    return ipam.deterministic_mac(f"pod:{meta['namespace']}/{meta['name']}/{ann.get(ANN_CONTAINER_ID, '')}")


def link_wep(tx, pod: dict) -> None:
    """Give the pod's WorkloadEndpoint the pod's uid and creationTimestamp, as Calico's KDD converter does."""
    node = pod.get("spec", {}).get("nodeName")
    wep = tx.get("WorkloadEndpoint", wep_name(node, pod["metadata"]["name"]), pod["metadata"]["namespace"]) \
        if node else None
    if wep is None or wep["metadata"].get("uid") == pod["metadata"].get("uid"):
        return
    wep["metadata"]["uid"] = pod["metadata"]["uid"]
    wep["metadata"]["creationTimestamp"] = pod["metadata"].get("creationTimestamp")
    tx.put(wep)


def build_wep(pod: dict, node: str, ip: str, cid: str) -> dict:
    meta, ns, name = pod["metadata"], pod["metadata"]["namespace"], pod["metadata"]["name"]
    sa = pod["spec"].get("serviceAccountName") or "default"
    labels = dict(meta.get("labels") or {})
    labels.update({"projectcalico.org/namespace": ns, "projectcalico.org/orchestrator": "k8s",
                   "projectcalico.org/serviceaccount": sa})
    ports = []
    for c in pod["spec"]["containers"]:
        for p in c.get("ports") or []:
            if p.get("name"):  # Calico's conversion keeps only named ports (they serve named-port policy)
                ports.append({"name": p["name"], "port": p["containerPort"], "protocol": p.get("protocol", "TCP"),
                              "hostPort": p.get("hostPort", 0)})
    spec = {"containerID": cid, "endpoint": "eth0", "interfaceName": interface_name(ns, name),
            "ipNetworks": [f"{ip}/32"], "node": node, "orchestrator": "k8s", "pod": name,
            "profiles": [f"kns.{ns}", f"ksa.{ns}.{sa}"], "serviceAccountName": sa}
    if ports:
        spec["ports"] = ports
    return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"name": wep_name(node, name), "namespace": ns, "labels": labels}, "spec": spec}


def stop_pod(tx, pod: dict) -> None:
    """CNI DEL: release the pod's IPs (its blocks stay with the node) and remove its WorkloadEndpoint."""
    meta = pod["metadata"]
    cid = (meta.get("annotations") or {}).get(ANN_CONTAINER_ID)
    if cid:
        ipam.release_handle(tx, f"k8s-pod-network.{cid}")
    node = pod.get("spec", {}).get("nodeName")
    if node:
        tx.delete("WorkloadEndpoint", wep_name(node, meta["name"]), meta["namespace"])


def default_pod_spec(user_spec: dict) -> dict:
    """The API server's defaults for the fields the lab shows (kubectl get -o yaml)."""
    spec = copy.deepcopy(user_spec)
    for c in spec["containers"]:
        image = c["image"]
        tag = image.rsplit("/", 1)[-1]
        c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("terminationGracePeriodSeconds", 30)
    return spec
