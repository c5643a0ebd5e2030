"""The emulated control plane's entry points: apply, delete, patch, label, bootstrap, node_view.

Every call is one datastore transaction: objects are checked statically first (kind, apiVersion,
names), then applied in manifest order inside the transaction, where later checks (IPAM, pool
overlap, namespaces created earlier in the same manifest) see earlier writes; any error rolls the
whole transaction back, so a failed call changes nothing.

Messages follow kubectl (`pod/pod1 created`); the CLIs word calicoctl's own from `Change` objects
(`apply_changes`, `delete_changes`) and from `ApplyError`.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from . import calico_objects as co
from . import ipam, netpol
from . import k8s_objects as k8s
from .cluster import ClusterSpec, cluster_spec
from .datastore import Datastore
from .kube_system import ensure_kube_system
from .manifests import load_manifest, merge_patch
from .outcomes import PLURAL, ApplyError, Change
from .selectors import calico_selector

__all__ = ["load_manifest", "apply", "apply_changes", "delete", "delete_changes", "delete_object",
           "delete_objects", "patch",
           "set_labels", "bootstrap", "node_view", "calico_selector", "calico_node", "calico_nodes",
           "ApplyError", "Change"]

K8S_KINDS = {("v1", "Namespace"): "Namespace", ("v1", "Pod"): "Pod", ("v1", "Node"): "Node",
             ("networking.k8s.io/v1", "NetworkPolicy"): "NetworkPolicy"}
CALICO_KINDS = {"IPPool": "IPPool", "BGPPeer": "BGPPeer", "BGPConfiguration": "BGPConfiguration",
                "FelixConfiguration": "FelixConfiguration",
                "KubeControllersConfiguration": "KubeControllersConfiguration", "Node": "CalicoNode",
                "IPReservation": "IPReservation"}
CALICO_CANONICAL = frozenset(CALICO_KINDS.values())
# kinds real clusters have but the lab does not emulate: refused with a clear message, not "no matches"
KNOWN_ELSEWHERE = {"Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "Job", "CronJob", "Service",
                   "Endpoints", "EndpointSlice", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding",
                   "ClusterRole", "ClusterRoleBinding", "Ingress", "PersistentVolumeClaim", "PersistentVolume",
                   "GlobalNetworkPolicy", "HostEndpoint", "NetworkSet", "GlobalNetworkSet", "Profile",
                   "Tier", "BGPFilter", "WorkloadEndpoint", "CalicoNodeStatus",
                   "IPAMConfiguration", "StagedNetworkPolicy", "ServiceMonitor"}


# ---------------------------------------------------------------- classification

def _classify(obj: dict, only: str | None) -> str:
    api, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name") or ""
    canonical = K8S_KINDS.get((api, kind))
    if canonical is None and api == "projectcalico.org/v3":
        canonical = CALICO_KINDS.get(kind)
    if canonical is None:
        if kind in KNOWN_ELSEWHERE:
            err = ApplyError(kind, name, f"the embedded lab does not emulate {kind} ({api}); it runs Pods, "
                             "Namespaces, NetworkPolicies, Nodes and the Calico resources IPPool, BGPPeer, "
                             "BGPConfiguration, FelixConfiguration, KubeControllersConfiguration, "
                             "IPReservation",
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


def _check_resource_version(kind: str, obj: dict, old: dict | None) -> None:
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if rv and old is not None and rv != old["metadata"]["resourceVersion"]:
        name = obj["metadata"]["name"]
        raise ApplyError(kind, name, f"update conflict: {kind}({name}): Resource version '{rv}' is out of date "
                         f"(latest: {old['metadata']['resourceVersion']}). Update the resource YAML/JSON in "
                         "order to make changes.", status="Conflict")


def _last_applied(obj: dict) -> dict:
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(k8s.LAST_APPLIED)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _last_applied_value(obj: dict) -> str:
    clean = json.loads(json.dumps(obj))
    meta = clean.setdefault("metadata", {})
    for k in ("resourceVersion", "uid", "creationTimestamp"):
        meta.pop(k, None)
    (meta.get("annotations") or {}).pop(k8s.LAST_APPLIED, None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    clean.pop("status", None)
    return json.dumps(clean, sort_keys=True, separators=(",", ":")) + "\n"


def _merged_meta(old: dict | None, obj: dict, mode: str, keep: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """kubectl apply's labels/annotations: three-way against the last applied manifest."""
    meta = obj.get("metadata") or {}
    new_labels, new_ann = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    if old is None or mode == "patch":  # a patched object already carries the merged maps
        labels, ann = new_labels, new_ann
    else:
        last = _last_applied(old).get("metadata", {})
        old_meta = old["metadata"]
        labels = k8s.three_way(old_meta.get("labels") or {}, last.get("labels") or {}, new_labels)
        ann = k8s.three_way(old_meta.get("annotations") or {}, last.get("annotations") or {}, new_ann)
        for k in keep:  # system-written annotations survive
            if k in (old_meta.get("annotations") or {}):
                ann[k] = old_meta["annotations"][k]
    if mode == "apply":
        ann[k8s.LAST_APPLIED] = _last_applied_value(obj)
    return labels, ann


def _meta_changed(old: dict, labels: dict, ann: dict) -> bool:
    om = old["metadata"]
    strip = {k8s.LAST_APPLIED}
    return (om.get("labels") or {}) != labels or \
        {k: v for k, v in (om.get("annotations") or {}).items() if k not in strip} != \
        {k: v for k, v in ann.items() if k not in strip}


def _already_exists(kind: str, name: str, ns: str | None) -> ApplyError:
    if kind in CALICO_CANONICAL:
        shown = "Node" if kind == "CalicoNode" else kind
        return ApplyError(kind, name, f"resource already exists: {shown}({name})", namespace=ns,
                          status="AlreadyExists")
    return ApplyError(kind, name, f'{PLURAL[kind]} "{name}" already exists', namespace=ns, status="AlreadyExists")


def _not_found(kind: str, name: str, ns: str | None) -> ApplyError:
    if kind in CALICO_CANONICAL:
        shown = "Node" if kind == "CalicoNode" else kind
        group = "" if kind == "CalicoNode" else ".crd.projectcalico.org"
        return ApplyError(kind, name, f"resource does not exist: {shown}({name}) with error: "
                          f'{PLURAL[kind]}{group} "{name}" not found', namespace=ns, status="NotFound")
    return ApplyError(kind, name, f'{PLURAL[kind]} "{name}" not found', namespace=ns, status="NotFound")


# ---------------------------------------------------------------- applying one object

class _Run:
    """State of one transaction: which follow-ups (tunnel addresses) the changes call for."""

    def __init__(self, tx, spec: ClusterSpec, mode: str):
        self.tx, self.spec, self.mode = tx, spec, mode
        self.reconcile = False


def _apply_namespace(run: _Run, obj: dict) -> Change:
    name = obj["metadata"]["name"]
    k8s.check_k8s_name("Namespace", name, label=True)
    old = run.tx.get("Namespace", name)
    if old is not None and run.mode == "create":
        raise _already_exists("Namespace", name, None)
    _check_resource_version("Namespace", obj, old)
    labels, ann = _merged_meta(old, obj, run.mode)
    labels["kubernetes.io/metadata.name"] = name
    if old is not None and not _meta_changed(old, labels, ann):
        return Change("Namespace", name, None, "unchanged")
    new = k8s.build_namespace(name, labels, ann)
    run.tx.put(new)
    return Change("Namespace", name, None, "configured" if old else "created")


def _apply_node(run: _Run, obj: dict) -> Change:
    name = obj["metadata"]["name"]
    old = run.tx.get("Node", name)
    if old is None:
        raise ApplyError("Node", name, f'nodes "{name}" not found: the embedded lab\'s nodes come from its '
                         f"topology ({', '.join(run.spec.node_names)})", status="NotFound")
    if run.mode == "create":
        raise _already_exists("Node", name, None)
    _check_resource_version("Node", obj, old)
    if k8s.differs(obj.get("spec") or {}, old.get("spec") or {}):
        raise ApplyError("Node", name, f'Node "{name}" is invalid: the embedded lab\'s nodes come from its '
                         "topology; only labels and annotations can change", status="Forbidden")
    labels, ann = _merged_meta(old, obj, run.mode, keep=tuple((old["metadata"].get("annotations") or {}).keys()))
    if not _meta_changed(old, labels, ann):
        return Change("Node", name, None, "unchanged")
    old["metadata"]["labels"], old["metadata"]["annotations"] = labels, ann
    run.tx.put(old)
    run.reconcile = True  # pool nodeSelectors may now select the node differently
    return Change("Node", name, None, "configured")


def _comparable_pod_spec(spec: dict) -> dict:
    """A pod spec minus what Kubernetes lets an update change (container images)."""
    out = json.loads(json.dumps(spec))
    for c in out.get("containers") or []:
        c.pop("image", None)
    return out


def _pod_spec_changed(mode: str, new_spec: dict, old: dict) -> bool:
    """Would this update change a pod's spec beyond what Kubernetes allows?

    Against the last applied manifest both ways (adding or dropping a field is a change, as in
    kubectl's three-way merge); otherwise only the fields the new spec sets are compared, since the
    stored spec also holds the API server's defaults and the scheduler's nodeName."""
    new = _comparable_pod_spec(new_spec)
    previous = _last_applied(old).get("spec") if mode == "apply" else None
    if previous is not None:
        prev = _comparable_pod_spec(previous)
        return k8s.differs(new, prev) or k8s.differs(prev, new)
    return k8s.differs(new, _comparable_pod_spec(old["spec"]))


def _apply_pod(run: _Run, obj: dict) -> Change:
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    meta["namespace"] = ns
    k8s.validate_pod(obj, run.spec)
    if run.tx.get("Namespace", ns) is None:
        raise ApplyError("Pod", name, f'namespaces "{ns}" not found', namespace=ns, status="NotFound")
    old = run.tx.get("Pod", name, ns)
    if old is not None:
        if run.mode == "create":
            raise _already_exists("Pod", name, ns)
        _check_resource_version("Pod", obj, old)
        if _pod_spec_changed(run.mode, obj["spec"], old):
            raise ApplyError("Pod", name, f'The Pod "{name}" is invalid: spec: Forbidden: pod updates may not '
                             "change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                             "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                             "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                             "was previously negative)", namespace=ns, status="Invalid")
        labels, ann = _merged_meta(old, obj, run.mode, keep=k8s.CNI_WRITTEN)
        images = [c["image"] for c in obj["spec"]["containers"]]
        old_images = [c["image"] for c in old["spec"]["containers"]]
        if not _meta_changed(old, labels, ann) and images == old_images:
            return Change("Pod", name, ns, "unchanged")
        old["metadata"]["labels"], old["metadata"]["annotations"] = labels, ann
        for c, image in zip(old["spec"]["containers"], images, strict=True):
            c["image"] = image
        run.tx.put(old)
        _sync_wep_labels(run.tx, old)
        return Change("Pod", name, ns, "configured")
    labels, ann = _merged_meta(None, obj, run.mode)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann},
           "spec": k8s.default_pod_spec(obj["spec"])}
    node, why = k8s.schedule(run.tx, run.spec, pod["spec"])
    if node is None:
        pod["status"] = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                         "message": why}], "phase": "Pending", "qosClass": "BestEffort"}
        run.tx.put(pod)
        return Change("Pod", name, ns, "created", warning=f"pod/{name} is Pending: {why}")
    seed = str(run.tx.revision())
    k8s.start_pod(run.tx, pod, node, seed)
    k8s.link_wep(run.tx, run.tx.put(pod))
    return Change("Pod", name, ns, "created")


def _sync_wep_labels(tx, pod: dict) -> None:
    node = pod["spec"].get("nodeName")
    if not node or pod.get("status", {}).get("phase") != "Running":
        return
    wep = tx.get("WorkloadEndpoint", k8s.wep_name(node, pod["metadata"]["name"]), pod["metadata"]["namespace"])
    if wep is None:
        return
    labels = dict(pod["metadata"].get("labels") or {})
    labels.update({k: v for k, v in (wep["metadata"].get("labels") or {}).items()
                   if k.startswith("projectcalico.org/")})
    wep["metadata"]["labels"] = labels
    tx.put(wep)


def _apply_netpol(run: _Run, obj: dict) -> Change:
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    k8s.check_k8s_name("NetworkPolicy", name, ns)
    if run.tx.get("Namespace", ns) is None:
        raise ApplyError("NetworkPolicy", name, f'namespaces "{ns}" not found', namespace=ns, status="NotFound")
    spec = obj.get("spec")
    unknown = netpol.unknown_fields(spec) if isinstance(spec, dict) else []
    if unknown:
        raise ApplyError("NetworkPolicy", name, 'NetworkPolicy in version "v1" cannot be handled as a NetworkPolicy: '
                         "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown),
                         namespace=ns, status="BadRequest")
    errors = netpol.validate(spec)
    if errors:
        raise ApplyError("NetworkPolicy", name, netpol.invalid_message(name, errors), namespace=ns)
    spec = netpol.defaulted(spec)  # what the API server stores: policyTypes and port protocols filled in
    old = run.tx.get("NetworkPolicy", name, ns)
    if old is not None and run.mode == "create":
        raise _already_exists("NetworkPolicy", name, ns)
    _check_resource_version("NetworkPolicy", obj, old)
    labels, ann = _merged_meta(old, obj, run.mode)
    if old is not None and old.get("spec") == spec and not _meta_changed(old, labels, ann):
        return Change("NetworkPolicy", name, ns, "unchanged")
    run.tx.put({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann}, "spec": spec})
    return Change("NetworkPolicy", name, ns, "configured" if old else "created")


def _apply_calico(run: _Run, kind: str, obj: dict) -> Change:
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
        raise _already_exists(kind, name, None)
    _check_resource_version(kind, obj, old)
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


def _apply_calico_node(run: _Run, obj: dict) -> Change:
    """A projectcalico.org/v3 Node updates the Kubernetes Node it is derived from (Calico's KDD)."""
    name = obj["metadata"]["name"]
    knode = run.tx.get("Node", name)
    if knode is None:
        raise _not_found("CalicoNode", name, None)
    if run.mode == "create":
        raise ApplyError("CalicoNode", name, f"operation Create is not supported on Node({name})",
                         status="AlreadyExists")
    current = calico_node(run.tx, name)
    _check_resource_version("CalicoNode", obj, current)
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


def _apply_one(run: _Run, kind: str, obj: dict) -> Change:
    if kind == "Namespace":
        return _apply_namespace(run, obj)
    if kind == "Node":
        return _apply_node(run, obj)
    if kind == "Pod":
        return _apply_pod(run, obj)
    if kind == "NetworkPolicy":
        return _apply_netpol(run, obj)
    if kind == "CalicoNode":
        return _apply_calico_node(run, obj)
    return _apply_calico(run, kind, obj)


def apply_changes(ds: Datastore, topology: Any, manifest: Any, *, mode: str = "apply", only: str | None = None,
                  source: str = "STDIN") -> list[Change]:
    """Apply (mode "apply") or create (mode "create") every object of a manifest, all or nothing.

    `only`: "k8s" refuses Calico kinds (what kubectl does without Calico's API server), "calico"
    refuses Kubernetes kinds (what calicoctl does)."""
    objs = load_manifest(manifest, source)
    spec = cluster_spec(topology)
    kinds = [_classify(o, only) for o in objs]  # static checks before any write
    changes = []
    with ds.transaction() as tx:
        run = _Run(tx, spec, mode)
        for obj, kind in zip(objs, kinds, strict=True):
            changes.append(_apply_one(run, kind, obj))
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
    return changes


def apply(ds: Datastore, topology: Any, manifest: Any, *, mode: str = "apply") -> list[str]:
    """kubectl-style lines: `pod/pod1 created`, `ippool.projectcalico.org/pool2 configured`, and a
    `Warning: ...` line after a pod that stays Pending."""
    out = []
    for c in apply_changes(ds, topology, manifest, mode=mode):
        out.append(c.kubectl())
        if c.warning:
            out.append(f"Warning: {c.warning}")
    return out


# ---------------------------------------------------------------- deleting

def _delete_one(run: _Run, kind: str, name: str, ns: str | None) -> Change:
    tx = run.tx
    if kind in ("Pod", "NetworkPolicy"):
        ns = ns or "default"
    if kind == "Node" or kind == "CalicoNode":
        if tx.get("Node", name) is None:
            raise _not_found(kind, name, None)
        raise ApplyError(kind, name, "the embedded lab's nodes come from its topology and cannot be deleted",
                         status="Forbidden")
    obj = tx.get(kind, name, ns)
    if obj is None:
        raise _not_found(kind, name, ns)
    if kind == "Namespace":
        if name in k8s.SYSTEM_NAMESPACES:
            raise ApplyError(kind, name, f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                             status="Forbidden")
        for pod in tx.list("Pod", name):
            k8s.stop_pod(tx, pod)
            tx.delete("Pod", pod["metadata"]["name"], name)
        for pol in tx.list("NetworkPolicy", name):
            tx.delete("NetworkPolicy", pol["metadata"]["name"], name)
    elif kind == "Pod":
        k8s.stop_pod(tx, obj)
    elif kind == "IPPool":
        used = ipam.pool_allocations(tx, obj)
        if used:
            holders = []
            for ip in used[:5]:
                alloc = ipam.find_allocation(tx, ip)
                attrs = (alloc[2].get("attrs") if alloc else {}) or {}
                who = f"{attrs['namespace']}/{attrs['pod']}" if "pod" in attrs else \
                    f"{attrs.get('type', 'address')} of {attrs.get('node', '?')}"
                holders.append(f"{ip} ({who})")
            more = f" and {len(used) - 5} more" if len(used) > 5 else ""
            raise ApplyError(kind, name, f"IPPool {name} still has {len(used)} IP address(es) in use: "
                             f"{', '.join(holders)}{more}. Disable it first (calicoctl patch ippool {name} -p "
                             "'{\"spec\":{\"disabled\":true}}' moves tunnel addresses out of it), delete the pods "
                             "that use it, then delete the pool",
                             status="Conflict")
        ipam.release_pool_blocks(tx, obj)
        run.reconcile = True
    tx.delete(kind, name, ns)
    return Change(kind, name, ns if kind in ("Pod", "NetworkPolicy") else None, "deleted")


def delete_changes(ds: Datastore, topology: Any, manifest: Any, *, only: str | None = None,
                   source: str = "STDIN") -> list[Change]:
    objs = load_manifest(manifest, source)
    spec = cluster_spec(topology)
    kinds = [_classify(o, only) for o in objs]
    with ds.transaction() as tx:
        run = _Run(tx, spec, "delete")
        changes = [_delete_one(run, kind, o["metadata"]["name"], o["metadata"].get("namespace"))
                   for o, kind in zip(objs, kinds, strict=True)]
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
    return changes


def delete(ds: Datastore, topology: Any, manifest: Any) -> list[str]:
    """Delete every object named in a manifest; kubectl-style lines (`pod "pod1" deleted`)."""
    return [c.kubectl() for c in delete_changes(ds, topology, manifest)]


def delete_objects(ds: Datastore, topology: Any, targets: list[tuple[str, str, str | None]]) -> list[Change]:
    """Delete (canonical kind, name, namespace) triples in one transaction: all of them or none."""
    spec = cluster_spec(topology)
    with ds.transaction() as tx:
        run = _Run(tx, spec, "delete")
        changes = [_delete_one(run, kind, name, ns) for kind, name, ns in targets]
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
    return changes


def delete_object(ds: Datastore, topology: Any, kind: str, name: str, namespace: str | None = None) -> Change:
    """Delete one object by canonical kind ("CalicoNode" for Calico's view of a node)."""
    return delete_objects(ds, topology, [(kind, name, namespace)])[0]


# ---------------------------------------------------------------- patch and labels

def _stored_manifest(tx, kind: str, name: str, ns: str | None) -> dict | None:
    if kind == "CalicoNode":
        return calico_node(tx, name)
    return tx.get(kind, name, ns)


def patch(ds: Datastore, topology: Any, kind: str, name: str, patch_obj: dict, namespace: str | None = None) -> Change:
    """Merge-patch an object and re-validate it as an update (calicoctl patch / kubectl patch --type merge)."""
    if not isinstance(patch_obj, dict):
        raise ApplyError(kind, name, "the patch must be a JSON object", status="BadRequest")
    spec = cluster_spec(topology)
    with ds.transaction() as tx:
        current = _stored_manifest(tx, kind, name, namespace)
        if current is None:
            raise _not_found(kind, name, namespace)
        merged = merge_patch(current, patch_obj)
        merged["metadata"]["name"] = name
        merged["metadata"].pop("resourceVersion", None)
        run = _Run(tx, spec, "patch")
        change = _apply_one(run, kind, merged)
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
    return Change(change.kind, change.name, change.namespace, "patched" if change.verb != "unchanged" else
                  "unchanged")


def set_labels(ds: Datastore, topology: Any, kind: str, name: str, labels: dict[str, str | None],
               namespace: str | None = None) -> Change:
    """Set (value) or remove (None) labels on an object; verb labeled / unlabeled / not labeled.

    The caller (a CLI) decides beforehand whether overwriting is allowed."""
    spec = cluster_spec(topology)
    target = "Node" if kind == "CalicoNode" else kind
    with ds.transaction() as tx:
        obj = tx.get(target, name, namespace)
        if obj is None:
            raise _not_found(kind, name, namespace)
        current = dict(obj["metadata"].get("labels") or {})
        updated = dict(current)
        for k, v in labels.items():
            if v is None:
                updated.pop(k, None)
            else:
                updated[k] = v
        if target == "Namespace":  # the API server keeps this one set to the name, whatever the update says
            updated["kubernetes.io/metadata.name"] = name
        if updated == current:
            return Change(kind, name, namespace, "not labeled")
        obj["metadata"]["labels"] = updated
        tx.put(obj)
        if target == "Pod":
            _sync_wep_labels(tx, obj)
        if target == "Node":
            ipam.reconcile_tunnel_addrs(tx, spec)
    only_removed = all(v is None for v in labels.values())
    return Change(kind, name, namespace, "unlabeled" if only_removed else "labeled")


# ---------------------------------------------------------------- bootstrap

def bootstrap(ds: Datastore, topology: Any) -> list[str]:
    """What `kubeadm init/join` plus `kubectl apply -f calico-kans.yaml` leave behind; creates only what
    is missing, so it is safe to call on every `lab.up()`."""
    spec = cluster_spec(topology)
    made = []
    with ds.transaction() as tx:
        for ns in k8s.SYSTEM_NAMESPACES:
            if tx.get("Namespace", ns) is None:
                tx.put(k8s.build_namespace(ns))
                made.append(f"namespace/{ns} created")
        for i, facts in enumerate(spec.nodes):
            if tx.get("Node", facts.name) is None:
                tx.put(k8s.build_node(spec, facts, i))
                made.append(f"node/{facts.name} created")
        if tx.get("IPAMConfig", "default") is None:
            ipam.ensure_ipam_config(tx)
            made.append("ipamconfig/default created")
        if not tx.list("IPPool"):
            dp = spec.default_pool
            pool = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                    "metadata": {"name": dp.get("name", "default-ipv4-ippool")},
                    "spec": {"cidr": str(spec.pod_cidr), "blockSize": spec.block_size,
                             "ipipMode": dp.get("ipipMode", "Always"), "vxlanMode": dp.get("vxlanMode", "Never"),
                             # CALICO_IPV4POOL_NAT_OUTGOING defaults to true (startup.go)
                             "natOutgoing": bool(dp.get("natOutgoing", True)), "nodeSelector": "all()"}}
            tx.put(co.normalize_ippool(pool, None, []))
            made.append(f"ippool.projectcalico.org/{pool['metadata']['name']} created")
        if tx.get("FelixConfiguration", "default") is None:
            tx.put({"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                    "metadata": {"name": "default"}, "spec": dict(co.FELIX_DEFAULT_SPEC)})
            made.append("felixconfiguration.projectcalico.org/default created")
        if tx.get("KubeControllersConfiguration", "default") is None:
            tx.put({"apiVersion": "projectcalico.org/v3", "kind": "KubeControllersConfiguration",
                    "metadata": {"name": "default"}, "spec": json.loads(json.dumps(co.KUBE_CONTROLLERS_DEFAULT_SPEC))})
            made.append("kubecontrollersconfiguration.projectcalico.org/default created")
        ipam.reconcile_tunnel_addrs(tx, spec)
        made += ensure_kube_system(tx, spec)
    return made


# ---------------------------------------------------------------- views

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
                         "mac": k8s.pod_mac(pod) if wep else None, "ports": ports,
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
