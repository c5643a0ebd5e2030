"""The kube-system pods of a kubeadm 1.30 + Calico v3.28 (manifest install) cluster, created at bootstrap.

What `kubeadm init/join` and `kubectl apply -f calico-kans.yaml` leave running (research/kans-lab.md
1-2; samples kubectl_get_pods_A_wide__blogd_rpi_kubeadm_calico3281.txt, a kubeadm 1.30.3 + Calico
v3.28.1 calico.yaml cluster):
- static pods `etcd-<cp>`, `kube-apiserver-<cp>`, `kube-controller-manager-<cp>`, `kube-scheduler-<cp>`
  (hostNetwork, on the control plane);
- DaemonSet pods `calico-node-xxxxx` and `kube-proxy-xxxxx` on every node (hostNetwork: the pod IP is
  the node's IP; Calico makes no WorkloadEndpoint for them);
- Deployment pods `coredns-<hash>-xxxxx` ×2 and `calico-kube-controllers-<hash>-xxxxx` with pool IPs.
  Kubeadm's CoreDNS waits for the CNI, so they start on the control plane, the only node then (the
  write-up's k8s-m block has 4 addresses in use: tunnel, coredns ×2, kube-controllers); they take
  their addresses in the order of the sample above (coredns, kube-controllers, coredns).

Pod-template hashes: coredns `55cb58b774` is the KANS cluster's own (T-2024, kubeadm 1.30.5, see
research/kans-lab.md 3.2); `77d59654f4` is calico-kube-controllers from the v3.28.1 manifest on a
kubeadm 1.30 cluster (blogd sample). The five-character suffixes are random on a cluster; here they are
drawn from a hash of the pod's role and node, in Kubernetes' alphabet (apimachinery
util/rand.String), so every lab has the same names.
"""

from __future__ import annotations

import uuid

from . import k8s_objects as k8s
from . import pod_admission, pod_status
from .cluster import ClusterSpec
from .k8s_objects import NAME_ALPHABET, name_suffix  # noqa: F401 (kube_system's names, re-exported)
from .outcomes import ApplyError

NAMESPACE = "kube-system"
COREDNS_HASH = "55cb58b774"
KUBE_CONTROLLERS_HASH = "77d59654f4"
K8S_VERSION = "v1.30.5"   # T-2024 (research/kans-lab.md 1.2)
CALICO_VERSION = "v3.28.1"
# kubeadm 1.30.5's image set (registry.k8s.io) and Calico's manifest images
IMAGES = {
    "etcd": "registry.k8s.io/etcd:3.5.15-0",
    "kube-apiserver": f"registry.k8s.io/kube-apiserver:{K8S_VERSION}",
    "kube-controller-manager": f"registry.k8s.io/kube-controller-manager:{K8S_VERSION}",
    "kube-scheduler": f"registry.k8s.io/kube-scheduler:{K8S_VERSION}",
    "kube-proxy": f"registry.k8s.io/kube-proxy:{K8S_VERSION}",
    "coredns": "registry.k8s.io/coredns/coredns:v1.11.3",
    "calico-node": f"docker.io/calico/node:{CALICO_VERSION}",
    "calico-kube-controllers": f"docker.io/calico/kube-controllers:{CALICO_VERSION}",
}
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
TOLERATE_ALL = [{"operator": "Exists"}]
DNS_PORTS = [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
             {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
             {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}]
_CRITICAL = {"key": "CriticalAddonsOnly", "operator": "Exists"}
_CONTROL_PLANE = {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}
_LINUX = {"kubernetes.io/os": "linux"}

# Each workload's container and pod fields as its manifest writes them, for the pods (here) and their
# owners' templates (kube_system_owners.py) alike:
# - kubeadm 1.30's static pods: CPU (and etcd's memory) requests (phases/controlplane/manifests.go,
#   etcd/local.go: ComponentResources);
# - kubeadm 1.30's CoreDNS Deployment (phases/addons/dns/manifests.go as of v1.30: numbered probe ports
#   until v1.34's named ones, `drop: [ALL]` since v1.29), probes with the API server's defaults;
# - kubeadm's kube-proxy DaemonSet (tolerates everything) and calico.yaml v3.28.1's calico-node
#   (requests cpu 250m) and calico-kube-controllers.
MANIFEST: dict[str, dict] = {
    "etcd": {"container": {"resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}},
    "kube-apiserver": {"container": {"resources": {"requests": {"cpu": "250m"}}}},
    "kube-controller-manager": {"container": {"resources": {"requests": {"cpu": "200m"}}}},
    "kube-scheduler": {"container": {"resources": {"requests": {"cpu": "100m"}}}},
    "calico-node": {"container": {"resources": {"requests": {"cpu": "250m"}}},
                    "pod": {"tolerations": [{"effect": "NoSchedule", "operator": "Exists"}, _CRITICAL,
                                            {"effect": "NoExecute", "operator": "Exists"}]}},
    "kube-proxy": {"pod": {"tolerations": [{"operator": "Exists"}]}},
    "coredns": {
        "container": {
            "args": ["-conf", "/etc/coredns/Corefile"], "imagePullPolicy": "IfNotPresent",
            "livenessProbe": {"failureThreshold": 5, "httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"},
                              "initialDelaySeconds": 60, "periodSeconds": 10, "successThreshold": 1,
                              "timeoutSeconds": 5},
            "ports": DNS_PORTS,
            "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"},
                               "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
            "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                                "readOnlyRootFilesystem": True},
            "volumeMounts": [{"mountPath": "/etc/coredns", "name": "config-volume", "readOnly": True}]},
        "pod": {
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"podAffinityTerm": {"labelSelector": {"matchExpressions": [
                    {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                    "topologyKey": "kubernetes.io/hostname"}, "weight": 100}]}},
            "dnsPolicy": "Default", "nodeSelector": _LINUX,
            "tolerations": [_CRITICAL, _CONTROL_PLANE],
            "volumes": [{"configMap": {"defaultMode": 420, "items": [{"key": "Corefile", "path": "Corefile"}],
                                       "name": "coredns"}, "name": "config-volume"}]}},
    "calico-kube-controllers": {"pod": {"nodeSelector": _LINUX, "tolerations": [
        _CRITICAL, {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}, _CONTROL_PLANE]}},
}


def manifest_spec(app: str) -> dict:
    """The pod spec `app`'s manifest writes (before the API server's defaults): one container plus pod fields."""
    import copy

    fields = MANIFEST.get(app, {})
    container = {"name": app, "image": IMAGES[app], **copy.deepcopy(fields.get("container", {}))}
    return {"containers": [container], **copy.deepcopy(fields.get("pod", {}))}


def _owner(kind: str, name: str, api: str = "apps/v1") -> dict:
    return {"apiVersion": api, "kind": kind, "name": name, "controller": True, "blockOwnerDeletion": True,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanslab:{kind}/{NAMESPACE}/{name}"))}


def _pod(name: str, node: str, app: str, labels: dict, owner: dict, *, host_network: bool,
         service_account: str | None, priority: str) -> dict:
    spec = manifest_spec(app) | {"nodeName": node, "priorityClassName": priority}
    if host_network:
        spec["hostNetwork"] = True
    if owner["kind"] == "DaemonSet":   # what the DaemonSet controller adds to its pods
        spec["tolerations"] = k8s.daemon_tolerations(spec)
    spec.setdefault("tolerations", TOLERATE_ALL)
    if service_account:
        spec["serviceAccountName"] = service_account
    spec = k8s.default_pod_spec(spec)
    if host_network and "dnsPolicy" not in (MANIFEST.get(app, {}).get("pod") or {}):
        spec["dnsPolicy"] = "ClusterFirstWithHostNet" if app in ("calico-node", "kube-proxy") else "ClusterFirst"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels, "annotations": {},
                         "ownerReferences": [owner]},
            "spec": spec}


def run_on_host(pod: dict, node_ip: str) -> dict:
    """A hostNetwork pod's status: Running with the node's address as its pod IP."""
    meta = pod["metadata"]
    ids = [k8s.container_id(meta["namespace"], meta["name"], f"host/{c['name']}") for c in pod["spec"]["containers"]]
    pod["status"] = pod_status.running(pod, node_ip, node_ip, k8s.now(), container_ids=ids)
    return pod


def ensure_kube_system(tx, spec: ClusterSpec) -> list[str]:
    """Create the kube-system pods unless the namespace already has pods; returns kubectl-style lines."""
    if tx.list("Pod", NAMESPACE):
        return []
    cp = next((n for n in spec.nodes if n.role == "control-plane"), spec.nodes[0])
    made = []

    def put(pod: dict) -> None:
        tx.put(pod)
        made.append(f"pod/{pod['metadata']['name']} created")

    for app in STATIC_PODS:
        name = f"{app}-{cp.name}"
        pod = _pod(name, cp.name, app, {"component": app, "tier": "control-plane"},
                   _owner("Node", cp.name, "v1") | {"controller": True},
                   host_network=True, service_account=None, priority="system-node-critical")
        owner = pod["metadata"]["ownerReferences"][0]
        owner.pop("blockOwnerDeletion")   # a mirror pod's owner is its Node, by the Node's uid
        owner["uid"] = (tx.get("Node", cp.name) or {}).get("metadata", {}).get("uid", owner["uid"])
        put(run_on_host(pod_admission.admit(tx, pod, mirror=True), cp.ip))
    for n in spec.nodes:
        for app in ("calico-node", "kube-proxy"):
            pod = _pod(f"{app}-{name_suffix(app, n.name)}", n.name, app,
                       {"k8s-app": app, "pod-template-generation": "1"}, _owner("DaemonSet", app),
                       host_network=True, service_account=app, priority="system-node-critical")
            put(run_on_host(pod_admission.admit(tx, pod), n.ip))
    for i, (app, rs_hash) in enumerate((("coredns", COREDNS_HASH), ("calico-kube-controllers", KUBE_CONTROLLERS_HASH),
                                        ("coredns", COREDNS_HASH))):
        rs = f"{app}-{rs_hash}"
        labels = {"k8s-app": "kube-dns" if app == "coredns" else app, "pod-template-hash": rs_hash}
        pod = _pod(f"{rs}-{name_suffix(app, str(i))}", cp.name, app, labels, _owner("ReplicaSet", rs),
                   host_network=False, service_account=app, priority="system-cluster-critical")
        tx.put(pod_admission.admit(tx, pod))   # the pod's uid first: the CNI's WorkloadEndpoint refers to it
        pod = tx.get("Pod", pod["metadata"]["name"], NAMESPACE)
        try:
            k8s.start_pod(tx, pod, cp.name, f"kube-system:{i}")
        except ApplyError:   # no address for it (a tiny pool): it waits in ContainerCreating, as on a cluster
            pod["spec"]["nodeName"] = cp.name
            pod["status"] = pod_status.creating(pod, cp.ip, k8s.now())
        put(pod)
        k8s.link_wep(tx, tx.get("Pod", pod["metadata"]["name"], NAMESPACE))
    return made
