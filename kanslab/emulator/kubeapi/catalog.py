"""Which REST resources the lab's Kubernetes API serves, and its discovery documents.

A resource is served when the datastore holds its kind (`datastore.KINDS`), so a kind another part
of the lab adds to the datastore (Service, Endpoints, ...) appears in discovery without a change
here. Events are served always: the lab derives the kubelet's and scheduler's events from its pods
(events.py) and adds any Event objects the datastore holds. So are the kubelet's node Leases (leases.py).

Discovery is the legacy form (/api, /api/v1, /apis, /apis/<group>/<version>): kubectl 1.30 asks
for aggregated discovery first (Accept: application/json;g=apidiscovery.k8s.io;v=v2;
as=APIGroupDiscoveryList, ...) and falls back to the legacy documents when the answer is a plain
APIVersions/APIGroupList (client-go discovery_client.go, "fallback to legacy discovery").
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import datastore
from ..k8s_objects import NODE_INFO

# kube-apiserver's /version for the KANS cluster (Kubernetes 1.30, research/kans-lab.md: v1.30.5).
# gitCommit/goVersion are the v1.30.5 release's (as `kubeadm version` prints them); the release builds
# every binary in one job, and buildDate is the one kubeadm v1.30.5 reports.
GIT_VERSION = NODE_INFO["kubeletVersion"]
VERSION = {"major": "1", "minor": "30", "gitVersion": GIT_VERSION,
           "gitCommit": "74e84a90c725047b1328ff3d589fedb1cb7a120e", "gitTreeState": "clean",
           "buildDate": "2024-09-12T00:17:07Z", "goVersion": "go1.22.6", "compiler": "gc",
           "platform": "linux/amd64"}

_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str          # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str           # the API kind
    store_kind: str     # the datastore's kind ("" when derived, not stored)
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _RW
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version


# Every resource the lab knows how to serve; `served()` keeps those the datastore holds.
KNOWN = (
    Resource("", "v1", "namespaces", "namespace", "Namespace", "Namespace", False, ("ns",),
             ("create", "delete", "get", "list", "patch", "update", "watch")),
    Resource("", "v1", "nodes", "node", "Node", "Node", False, ("no",)),
    Resource("", "v1", "pods", "pod", "Pod", "Pod", True, ("po",), categories=("all",)),
    Resource("", "v1", "events", "event", "Event", "Event", True, ("ev",)),
    Resource("", "v1", "services", "service", "Service", "Service", True, ("svc",),
             ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"), ("all",)),
    Resource("", "v1", "endpoints", "endpoints", "Endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "secret", "Secret", "Secret", True),
    Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", "ServiceAccount", True, ("sa",)),
    Resource("apps", "v1", "daemonsets", "daemonset", "DaemonSet", "DaemonSet", True, ("ds",), categories=("all",)),
    Resource("apps", "v1", "deployments", "deployment", "Deployment", "Deployment", True, ("deploy",),
             categories=("all",)),
    Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", "ReplicaSet", True, ("rs",),
             categories=("all",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", "EndpointSlice", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
             "ClusterRoleBinding", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", "Role", True),
    Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", "", True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", "NetworkPolicy", True,
             ("netpol",)),
)
# subresources listed in discovery (kubectl logs/exec look them up)
SUBRESOURCES = {"pods": (("log", "Pod", ("get",)), ("exec", "PodExecOptions", ("create", "get")),
                         ("status", "Pod", ("get", "patch", "update"))),
                "deployments": (("scale", "Scale", ("get", "patch", "update")),),
                "replicasets": (("scale", "Scale", ("get", "patch", "update")),)}
# the preferred version of each group, in kube-apiserver's discovery order
GROUP_ORDER = ("apps", "events.k8s.io", "discovery.k8s.io", "networking.k8s.io", "rbac.authorization.k8s.io",
               "coordination.k8s.io")
# resources derived from other objects when read, never stored: events (events.py), node leases (leases.py)
DERIVED = ("Event", "Lease")


def served() -> list[Resource]:
    kinds = set(datastore.KINDS)
    return [r for r in KNOWN if r.store_kind in kinds or r.kind in DERIVED]


def stored(r: Resource) -> bool:
    return r.store_kind in datastore.KINDS


def find(group: str, version: str, plural: str) -> Resource | None:
    for r in served():
        if (r.group, r.version, r.plural) == (group, version, plural):
            return r
    return None


def groups() -> list[str]:
    present = {r.group for r in served() if r.group}
    return [g for g in GROUP_ORDER if g in present]


def api_versions() -> dict:
    """/api"""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def api_group_list() -> dict:
    """/apis"""
    out = []
    for g in groups():
        gv = {"groupVersion": f"{g}/v1", "version": "v1"}
        out.append({"name": g, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group: str) -> dict | None:
    """/apis/<group>"""
    if group not in groups():
        return None
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv], "preferredVersion": gv}


def resource_list(group: str, version: str) -> dict | None:
    """/api/v1 or /apis/<group>/<version>"""
    mine = [r for r in served() if (r.group, r.version) == (group, version)]
    if not mine:
        return None
    items = []
    for r in mine:
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        items.append(entry)
        for sub, kind, verbs in SUBRESOURCES.get(r.plural, ()):
            entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                     "kind": kind, "verbs": list(verbs)}
            if kind == "Scale":   # kube-apiserver names the Scale's own group (kubectl scale's resolver reads it)
                entry.update(group="autoscaling", version="v1")
            items.append(entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}
