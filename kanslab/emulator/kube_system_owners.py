"""The DaemonSets, Deployments and ReplicaSets that own kube-system's pods (kube_system.py).

What `kubectl get ds,deploy,rs -n kube-system` lists on a kubeadm 1.30 + Calico v3.28 manifest
cluster (sample kubectl_get_all_A_wide_calico_node_not_ready__jpnotes_workerjoin_calico3280.txt for
the columns; the objects' specs from kubeadm's addons (cmd/kubeadm/app/phases/addons/dns/manifests.go,
proxy/manifests.go) and Calico's calico.yaml v3.28.1): calico-node and kube-proxy DaemonSets on every
node, coredns (2 replicas) and calico-kube-controllers (1) Deployments with their ReplicaSets, whose
names carry the pod-template hashes the pods already carry.

Created once, after the pods; the pods' ownerReferences are then pointed at the owners' uids and the
daemon pods get their controller-revision-hash label, so the controllers in workloads.py treat them
as their own (a deleted calico-node pod comes back on its node).
"""

from __future__ import annotations

import copy

from . import k8s_objects as k8s
from . import workload_status as ws
from .kube_system import COREDNS_HASH, KUBE_CONTROLLERS_HASH, NAMESPACE, manifest_spec

_LINUX = {"kubernetes.io/os": "linux"}


def _template(app: str, labels: dict, *, sa: str, priority: str, host_network: bool) -> dict:
    spec = {"nodeSelector": dict(_LINUX)} | manifest_spec(app) | {"priorityClassName": priority,
                                                                  "serviceAccountName": sa}
    if host_network:
        spec["hostNetwork"] = True
    spec = k8s.default_pod_spec(spec)
    if host_network:
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return {"metadata": {"creationTimestamp": None, "labels": dict(labels)}, "spec": spec}


def _daemonset(app: str, template: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": app, "namespace": NAMESPACE, "labels": {"k8s-app": app}, "generation": 1,
                         "annotations": {"deprecated.daemonset.template.generation": "1"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": app}}, "template": template, "revisionHistoryLimit": 10,
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}}


def _deployment(name: str, app_label: str, replicas: int, template: dict, strategy: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"k8s-app": app_label}, "generation": 1,
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"k8s-app": app_label}}, "template": template,
                     "strategy": strategy, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}


def _replicaset(dep: dict, pod_hash: str) -> dict:
    template = copy.deepcopy(dep["spec"]["template"])
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    sel = copy.deepcopy(dep["spec"]["selector"])
    sel["matchLabels"]["pod-template-hash"] = pod_hash
    n = dep["spec"]["replicas"]
    surge = 0 if dep["spec"]["strategy"]["type"] == "Recreate" else -(-n * 25 // 100)   # maxSurge 25%, rounded up
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{dep['metadata']['name']}-{pod_hash}", "namespace": NAMESPACE, "generation": 1,
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {"deployment.kubernetes.io/desired-replicas": str(n),
                                         "deployment.kubernetes.io/max-replicas": str(n + surge),
                                         "deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [_ref(dep)]},
            "spec": {"replicas": n, "selector": sel, "template": template}}


def _ref(obj: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _adopt(tx, owner: dict, prefix: str, extra_labels: dict | None = None) -> None:
    for pod in tx.list("Pod", NAMESPACE):
        ref = ws.controller_of(pod)
        if ref and ref.get("kind") == owner["kind"] and ref.get("name") == owner["metadata"]["name"] and \
                pod["metadata"]["name"].startswith(prefix):
            pod["metadata"]["ownerReferences"] = [_ref(owner)]
            pod["metadata"]["labels"] = {**(pod["metadata"].get("labels") or {}), **(extra_labels or {})}
            tx.put(pod)


def ensure_owners(tx, node_count: int) -> list[str]:
    """Create kube-system's DaemonSets/Deployments/ReplicaSets when missing; kubectl-style lines."""
    if tx.list("DaemonSet", NAMESPACE) or tx.list("Deployment", NAMESPACE):
        return []
    made = []
    # the ServiceAccounts the pods run as: calico.yaml's three, kubeadm's coredns and kube-proxy
    for sa in ("calico-cni-plugin", "calico-kube-controllers", "calico-node", "coredns", "kube-proxy"):
        if tx.get("ServiceAccount", sa, NAMESPACE) is None:
            tx.put({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": NAMESPACE}})
            made.append(f"serviceaccount/{sa} created")
    for app in ("calico-node", "kube-proxy"):
        ds = _daemonset(app, _template(app, {"k8s-app": app}, sa=app, priority="system-node-critical",
                                       host_network=True))
        ds = tx.put(ds)
        _adopt(tx, ds, f"{app}-", {"controller-revision-hash": ws.template_hash(ds["spec"]["template"])})
        ws.refresh_daemonset(tx, ds, node_count)
        made.append(f"daemonset.apps/{app} created")
    deployments = (
        ("coredns", "kube-dns", 2, COREDNS_HASH, _template("coredns", {"k8s-app": "kube-dns"}, sa="coredns",
                                                           priority="system-cluster-critical", host_network=False),
         {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}),
        ("calico-kube-controllers", "calico-kube-controllers", 1, KUBE_CONTROLLERS_HASH,
         _template("calico-kube-controllers", {"k8s-app": "calico-kube-controllers"}, sa="calico-kube-controllers",
                   priority="system-cluster-critical", host_network=False),
         {"type": "Recreate"}),
    )
    for name, label, replicas, pod_hash, template, strategy in deployments:
        dep = tx.put(_deployment(name, label, replicas, template, strategy))
        rs = tx.put(_replicaset(dep, pod_hash))
        _adopt(tx, rs, f"{rs['metadata']['name']}-")
        ws.refresh_replicaset(tx, rs)
        ws.refresh_deployment(tx, tx.get("Deployment", name, NAMESPACE))
        made += [f"deployment.apps/{name} created", f"replicaset.apps/{rs['metadata']['name']} created"]
    return made

