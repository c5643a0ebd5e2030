"""What every write to the emulated control plane shares: which kinds exist, how a manifest's
metadata merges with the stored object's, the errors kubectl/calicoctl word, and `Run`, the state
of one datastore transaction.

`classify` is the static check run on every object before any write (kind, apiVersion, name).
"""

from __future__ import annotations

import json

from . import k8s_objects as k8s
from .cluster import ClusterSpec
from .outcomes import PLURAL, ApplyError

K8S_KINDS = {("v1", "Namespace"): "Namespace", ("v1", "Pod"): "Pod", ("v1", "Node"): "Node",
             ("networking.k8s.io/v1", "NetworkPolicy"): "NetworkPolicy",
             ("v1", "ConfigMap"): "ConfigMap", ("v1", "Secret"): "Secret", ("v1", "ServiceAccount"): "ServiceAccount",
             ("rbac.authorization.k8s.io/v1", "Role"): "Role",
             ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
             ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
             ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
             ("apps/v1", "Deployment"): "Deployment", ("apps/v1", "ReplicaSet"): "ReplicaSet",
             ("apps/v1", "DaemonSet"): "DaemonSet",
             ("v1", "Service"): "Service", ("v1", "Endpoints"): "Endpoints",
             ("discovery.k8s.io/v1", "EndpointSlice"): "EndpointSlice"}
CALICO_KINDS = {"IPPool": "IPPool", "BGPPeer": "BGPPeer", "BGPConfiguration": "BGPConfiguration",
                "FelixConfiguration": "FelixConfiguration",
                "KubeControllersConfiguration": "KubeControllersConfiguration", "Node": "CalicoNode",
                "IPReservation": "IPReservation", "NetworkPolicy": "CalicoNetworkPolicy",
                "GlobalNetworkPolicy": "GlobalNetworkPolicy"}
CALICO_CANONICAL = frozenset(CALICO_KINDS.values())
# kinds real clusters have but the lab does not emulate: refused with a clear message, not "no matches"
KNOWN_ELSEWHERE = {"StatefulSet", "Job", "CronJob", "Ingress", "PersistentVolumeClaim", "PersistentVolume",
                   "HostEndpoint", "NetworkSet", "GlobalNetworkSet", "Profile",
                   "Tier", "BGPFilter", "WorkloadEndpoint", "CalicoNodeStatus",
                   "IPAMConfiguration", "StagedNetworkPolicy", "ServiceMonitor"}


# ---------------------------------------------------------------- classification

def classify(obj: dict, only: str | None) -> str:
    api, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name") or ""
    canonical = K8S_KINDS.get((api, kind))
    if canonical is None and api == "projectcalico.org/v3":
        canonical = CALICO_KINDS.get(kind)
    if canonical is None:
        if kind in KNOWN_ELSEWHERE:
            err = ApplyError(kind, name, f"the embedded lab does not emulate {kind} ({api}); it runs Pods, "
                             "Namespaces, NetworkPolicies, Nodes, ConfigMaps, Secrets, ServiceAccounts, RBAC "
                             "objects, Deployments, ReplicaSets, DaemonSets and the Calico resources IPPool, BGPPeer, "
                             "BGPConfiguration, FelixConfiguration, KubeControllersConfiguration, "
                             "IPReservation, NetworkPolicy, GlobalNetworkPolicy",
                             status="NotEmulated")
        else:
            err = ApplyError(kind, name, f'no matches for kind "{kind}" in version "{api}"', status="UnknownKind")
        err.api_version = api
        raise err
    is_calico = canonical in CALICO_CANONICAL
    if (only == "k8s" and is_calico) or (only == "calico" and not is_calico):
        err = ApplyError(kind, name, f'no matches for kind "{kind}" in version "{api}"', status="UnknownKind")
        err.api_version = api
        raise err
    if not name:
        raise ApplyError(kind, name, "resource name may not be empty", status="BadRequest")
    return canonical


def check_resource_version(kind: str, obj: dict, old: dict | None) -> None:
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if rv and old is not None and rv != old["metadata"]["resourceVersion"]:
        name = obj["metadata"]["name"]
        raise ApplyError(kind, name, f"update conflict: {kind}({name}): Resource version '{rv}' is out of date "
                         f"(latest: {old['metadata']['resourceVersion']}). Update the resource YAML/JSON in "
                         "order to make changes.", status="Conflict")


def last_applied(obj: dict) -> dict:
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(k8s.LAST_APPLIED)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def last_applied_value(obj: dict) -> str:
    clean = json.loads(json.dumps(obj))
    meta = clean.setdefault("metadata", {})
    for k in ("resourceVersion", "uid", "creationTimestamp"):
        meta.pop(k, None)
    (meta.get("annotations") or {}).pop(k8s.LAST_APPLIED, None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    clean.pop("status", None)
    return json.dumps(clean, sort_keys=True, separators=(",", ":")) + "\n"


def merged_meta(old: dict | None, obj: dict, mode: str, keep: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """kubectl apply's labels/annotations: three-way against the last applied manifest."""
    meta = obj.get("metadata") or {}
    new_labels, new_ann = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    if old is None or mode == "patch":  # a patched object already carries the merged maps
        labels, ann = new_labels, new_ann
    else:
        last = last_applied(old).get("metadata", {})
        old_meta = old["metadata"]
        labels = k8s.three_way(old_meta.get("labels") or {}, last.get("labels") or {}, new_labels)
        ann = k8s.three_way(old_meta.get("annotations") or {}, last.get("annotations") or {}, new_ann)
        for k in keep:  # system-written annotations survive
            if k in (old_meta.get("annotations") or {}):
                ann[k] = old_meta["annotations"][k]
    if mode == "apply":
        ann[k8s.LAST_APPLIED] = last_applied_value(obj)
    return labels, ann


def meta_changed(old: dict, labels: dict, ann: dict) -> bool:
    om = old["metadata"]
    strip = {k8s.LAST_APPLIED}
    return (om.get("labels") or {}) != labels or \
        {k: v for k, v in (om.get("annotations") or {}).items() if k not in strip} != \
        {k: v for k, v in ann.items() if k not in strip}


def _shown_id(kind: str, name: str, ns: str | None) -> tuple[str, str]:
    shown = {"CalicoNode": "Node", "CalicoNetworkPolicy": "NetworkPolicy"}.get(kind, kind)
    return shown, f"{ns}/{name}" if kind == "CalicoNetworkPolicy" else name


def already_exists(kind: str, name: str, ns: str | None) -> ApplyError:
    if kind in CALICO_CANONICAL:
        shown, ident = _shown_id(kind, name, ns)
        return ApplyError(kind, name, f"resource already exists: {shown}({ident})", namespace=ns,
                          status="AlreadyExists")
    return ApplyError(kind, name, f'{PLURAL[kind]} "{name}" already exists', namespace=ns, status="AlreadyExists")


def not_found(kind: str, name: str, ns: str | None) -> ApplyError:
    if kind in CALICO_CANONICAL:
        shown, ident = _shown_id(kind, name, ns)
        group = "" if kind == "CalicoNode" else ".crd.projectcalico.org"
        # policies are stored under their tier-prefixed name (clientv3 convertPolicyNameForStorage)
        stored = f"default.{name}" if kind in ("CalicoNetworkPolicy", "GlobalNetworkPolicy") else name
        return ApplyError(kind, name, f"resource does not exist: {shown}({ident}) with error: "
                          f'{PLURAL[kind]}{group} "{stored}" not found', namespace=ns, status="NotFound")
    return ApplyError(kind, name, f'{PLURAL[kind]} "{name}" not found', namespace=ns, status="NotFound")


def stored_for_write(run: "Run", kind: str, obj: dict, name: str, ns: str | None) -> dict | None:
    """The stored object a write replaces (None for a new one), after the checks every write makes:
    its namespace exists, `create` does not overwrite, and a resourceVersion in the manifest is current."""
    if ns is not None and run.tx.get("Namespace", ns) is None:
        raise ApplyError(kind, name, f'namespaces "{ns}" not found', namespace=ns, status="NotFound")
    old = run.tx.get(kind, name, ns)
    if old is not None and run.mode == "create":
        raise already_exists(kind, name, ns)
    check_resource_version(kind, obj, old)
    return old

# ---------------------------------------------------------------- one transaction

class Run:
    """State of one transaction: which follow-ups (tunnel addresses) the changes call for."""

    def __init__(self, tx, spec: ClusterSpec, mode: str):
        self.tx, self.spec, self.mode = tx, spec, mode
        self.reconcile = False

