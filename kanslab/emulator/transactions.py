"""The emulated control plane's write calls: apply, create, delete, patch, label.

Every call is one datastore transaction: objects are checked statically first (kind, apiVersion,
names), then applied in manifest order inside the transaction, where later checks (IPAM, pool
overlap, namespaces created earlier in the same manifest) see earlier writes; any error rolls the
whole transaction back, so a failed call changes nothing. A change that moves tunnel addresses
(pools, node labels) ends with IPAM's `reconcile_tunnel_addrs` in the same transaction.

Messages follow kubectl (`pod/pod1 created`); the CLIs word calicoctl's own from `Change` objects
(`apply_changes`, `delete_changes`) and from `ApplyError`.
"""

from __future__ import annotations

from typing import Any

from . import ipam, services, workloads
from . import k8s_objects as k8s
from .calico_apply import apply_calico, apply_calico_node, apply_calico_policy, calico_node
from .cluster import cluster_spec
from .core_objects import CONTENT as CORE_KINDS
from .core_objects import apply_core, ensure_namespace_defaults
from .datastore import NAMESPACED_KINDS, Datastore
from .endpoints import sync_endpoints
from .k8s_apply import apply_namespace, apply_netpol, apply_node, apply_pod, sync_wep_labels
from .kinds import Run, classify, not_found
from .manifests import load_manifest, merge_patch
from .outcomes import ApplyError, Change


def apply_one(run: Run, kind: str, obj: dict) -> Change:
    if kind == "Namespace":
        change = apply_namespace(run, obj)
        ensure_namespace_defaults(run.tx, obj["metadata"]["name"])
        return change
    if kind in CORE_KINDS:
        return apply_core(run, kind, obj)
    if kind in workloads.KINDS:
        return workloads.apply_workload(run, kind, obj)
    if kind == "Node":
        return apply_node(run, obj)
    if kind == "Pod":
        return apply_pod(run, obj)
    if kind == "NetworkPolicy":
        return apply_netpol(run, obj)
    if kind == "Service":
        return services.apply_service(run, obj)
    if kind in ("Endpoints", "EndpointSlice"):
        return services.apply_endpoints(run, kind, obj)
    if kind == "CalicoNode":
        return apply_calico_node(run, obj)
    if kind in ("CalicoNetworkPolicy", "GlobalNetworkPolicy"):
        return apply_calico_policy(run, kind, obj)
    return apply_calico(run, kind, obj)


def apply_changes(ds: Datastore, topology: Any, manifest: Any, *, mode: str = "apply", only: str | None = None,
                  source: str = "STDIN") -> list[Change]:
    """Apply (mode "apply") or create (mode "create") every object of a manifest, all or nothing.

    `only`: "k8s" refuses Calico kinds (what kubectl does without Calico's API server), "calico"
    refuses Kubernetes kinds (what calicoctl does)."""
    objs = load_manifest(manifest, source)
    spec = cluster_spec(topology)
    kinds = [classify(o, only) for o in objs]  # static checks before any write
    changes = []
    with ds.transaction() as tx:
        run = Run(tx, spec, mode)
        for obj, kind in zip(objs, kinds, strict=True):
            changes.append(apply_one(run, kind, obj))
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
        sync_endpoints(tx)
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

def delete_one(run: Run, kind: str, name: str, ns: str | None) -> Change:
    tx = run.tx
    namespaced = kind in NAMESPACED_KINDS
    if namespaced:
        ns = ns or "default"
    if kind == "Node" or kind == "CalicoNode":
        if tx.get("Node", name) is None:
            raise not_found(kind, name, None)
        raise ApplyError(kind, name, "the embedded lab's nodes come from its topology and cannot be deleted",
                         status="Forbidden")
    obj = tx.get(kind, name, ns)
    if obj is None:
        raise not_found(kind, name, ns)
    if kind == "Namespace":
        if name in k8s.SYSTEM_NAMESPACES:
            raise ApplyError(kind, name, f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                             status="Forbidden")
        for pod in tx.list("Pod", name):
            k8s.stop_pod(tx, pod)
            tx.delete("Pod", pod["metadata"]["name"], name)
        for pkind in ("NetworkPolicy", "CalicoNetworkPolicy", "Event", "Service", "Endpoints", "EndpointSlice",
                      *workloads.KINDS, *CORE_KINDS):
            if pkind.startswith("Cluster"):
                continue
            for pol in tx.list(pkind, name):
                tx.delete(pkind, pol["metadata"]["name"], name)
    elif kind == "Pod":
        k8s.stop_pod(tx, obj)
        tx.delete(kind, name, ns)
        workloads.after_pod_deleted(run, obj)
        return Change(kind, name, ns, "deleted")
    elif kind in workloads.KINDS:
        workloads.delete_owned(tx, obj)
    elif kind == "Service":
        services.delete_service_endpoints(tx, name, ns)
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
    return Change(kind, name, ns if namespaced else None, "deleted")


def delete_changes(ds: Datastore, topology: Any, manifest: Any, *, only: str | None = None,
                   source: str = "STDIN") -> list[Change]:
    objs = load_manifest(manifest, source)
    spec = cluster_spec(topology)
    kinds = [classify(o, only) for o in objs]
    with ds.transaction() as tx:
        run = Run(tx, spec, "delete")
        changes = [delete_one(run, kind, o["metadata"]["name"], o["metadata"].get("namespace"))
                   for o, kind in zip(objs, kinds, strict=True)]
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
        sync_endpoints(tx)
    return changes


def delete(ds: Datastore, topology: Any, manifest: Any) -> list[str]:
    """Delete every object named in a manifest; kubectl-style lines (`pod "pod1" deleted`)."""
    return [c.kubectl() for c in delete_changes(ds, topology, manifest)]


def delete_objects(ds: Datastore, topology: Any, targets: list[tuple[str, str, str | None]]) -> list[Change]:
    """Delete (canonical kind, name, namespace) triples in one transaction: all of them or none."""
    spec = cluster_spec(topology)
    with ds.transaction() as tx:
        run = Run(tx, spec, "delete")
        changes = [delete_one(run, kind, name, ns) for kind, name, ns in targets]
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
        sync_endpoints(tx)
    return changes


def delete_object(ds: Datastore, topology: Any, kind: str, name: str, namespace: str | None = None) -> Change:
    """Delete one object by canonical kind ("CalicoNode" for Calico's view of a node)."""
    return delete_objects(ds, topology, [(kind, name, namespace)])[0]


# ---------------------------------------------------------------- patch and labels

def stored_manifest(tx, kind: str, name: str, ns: str | None) -> dict | None:
    if kind == "CalicoNode":
        return calico_node(tx, name)
    return tx.get(kind, name, ns)


def patch(ds: Datastore, topology: Any, kind: str, name: str, patch_obj: dict, namespace: str | None = None) -> Change:
    """Merge-patch an object and re-validate it as an update (calicoctl patch / kubectl patch --type merge)."""
    if not isinstance(patch_obj, dict):
        raise ApplyError(kind, name, "the patch must be a JSON object", status="BadRequest")
    spec = cluster_spec(topology)
    with ds.transaction() as tx:
        current = stored_manifest(tx, kind, name, namespace)
        if current is None:
            raise not_found(kind, name, namespace)
        merged = merge_patch(current, patch_obj)
        merged["metadata"]["name"] = name
        merged["metadata"].pop("resourceVersion", None)
        run = Run(tx, spec, "patch")
        change = apply_one(run, kind, merged)
        if run.reconcile:
            ipam.reconcile_tunnel_addrs(tx, spec)
        sync_endpoints(tx)
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
            raise not_found(kind, name, namespace)
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
            sync_wep_labels(tx, obj)
            sync_endpoints(tx)
        if target == "Node":
            ipam.reconcile_tunnel_addrs(tx, spec)
    only_removed = all(v is None for v in labels.values())
    return Change(kind, name, namespace, "unlabeled" if only_removed else "labeled")

