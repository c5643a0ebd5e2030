"""Applying the Kubernetes kinds the lab emulates: Namespace, Node (labels and annotations only),
Pod (scheduled and started through IPAM and the CNI's bookkeeping) and NetworkPolicy.

Each `apply_*` takes the transaction's `Run` and one manifest object and returns its `Change`;
it raises `ApplyError` with kubectl's wording when the object is refused.
"""

from __future__ import annotations

import json

from . import k8s_objects as k8s
from . import netpol, pod_admission, pod_start, pod_status
from .kinds import Run, already_exists, check_resource_version, last_applied, merged_meta, meta_changed
from .outcomes import ApplyError, Change


def apply_namespace(run: Run, obj: dict) -> Change:
    name = obj["metadata"]["name"]
    k8s.check_k8s_name("Namespace", name, label=True)
    old = run.tx.get("Namespace", name)
    if old is not None and run.mode == "create":
        raise already_exists("Namespace", name, None)
    check_resource_version("Namespace", obj, old)
    labels, ann = merged_meta(old, obj, run.mode)
    labels["kubernetes.io/metadata.name"] = name
    if old is not None and not meta_changed(old, labels, ann):
        return Change("Namespace", name, None, "unchanged")
    new = k8s.build_namespace(name, labels, ann)
    run.tx.put(new)
    return Change("Namespace", name, None, "configured" if old else "created")


def apply_node(run: Run, obj: dict) -> Change:
    name = obj["metadata"]["name"]
    old = run.tx.get("Node", name)
    if old is None:
        raise ApplyError("Node", name, f'nodes "{name}" not found: the embedded lab\'s nodes come from its '
                         f"topology ({', '.join(run.spec.node_names)})", status="NotFound")
    if run.mode == "create":
        raise already_exists("Node", name, None)
    check_resource_version("Node", obj, old)
    if k8s.differs(obj.get("spec") or {}, old.get("spec") or {}):
        raise ApplyError("Node", name, f'Node "{name}" is invalid: the embedded lab\'s nodes come from its '
                         "topology; only labels and annotations can change", status="Forbidden")
    labels, ann = merged_meta(old, obj, run.mode, keep=tuple((old["metadata"].get("annotations") or {}).keys()))
    if not meta_changed(old, labels, ann):
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
    previous = last_applied(old).get("spec") if mode == "apply" else None
    if previous is not None:
        prev = _comparable_pod_spec(previous)
        return k8s.differs(new, prev) or k8s.differs(prev, new)
    return k8s.differs(new, _comparable_pod_spec(old["spec"]))


def apply_pod(run: Run, obj: dict) -> Change:
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    meta["namespace"] = ns
    k8s.validate_pod(obj, run.spec)
    if run.tx.get("Namespace", ns) is None:
        raise ApplyError("Pod", name, f'namespaces "{ns}" not found', namespace=ns, status="NotFound")
    sa = obj["spec"].get("serviceAccountName") or obj["spec"].get("serviceAccount")
    if sa and sa != "default" and run.tx.get("ServiceAccount", sa, ns) is None:   # the ServiceAccount admission
        raise ApplyError("Pod", name, f'pods "{name}" is forbidden: error looking up service account {ns}/{sa}: '
                         f'serviceaccount "{sa}" not found', namespace=ns, status="Forbidden")
    old = run.tx.get("Pod", name, ns)
    if old is not None:
        if run.mode == "create":
            raise already_exists("Pod", name, ns)
        check_resource_version("Pod", obj, old)
        if _pod_spec_changed(run.mode, obj["spec"], old):
            raise ApplyError("Pod", name, f'The Pod "{name}" is invalid: spec: Forbidden: pod updates may not '
                             "change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                             "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                             "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                             "was previously negative)", namespace=ns, status="Invalid")
        labels, ann = merged_meta(old, obj, run.mode, keep=k8s.CNI_WRITTEN)
        images = [c["image"] for c in obj["spec"]["containers"]]
        old_images = [c["image"] for c in old["spec"]["containers"]]
        if not meta_changed(old, labels, ann) and images == old_images:
            return Change("Pod", name, ns, "unchanged")
        old["metadata"]["labels"], old["metadata"]["annotations"] = labels, ann
        for c, image in zip(old["spec"]["containers"], images, strict=True):
            c["image"] = image
        run.tx.put(old)
        sync_wep_labels(run.tx, old)
        return Change("Pod", name, ns, "configured")
    labels, ann = merged_meta(None, obj, run.mode)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann},
           "spec": k8s.default_pod_spec(obj["spec"])}
    for owned_by in ("generateName", "ownerReferences"):   # set by the controllers (workloads.py)
        if meta.get(owned_by):
            pod["metadata"][owned_by] = meta[owned_by]
    pod_admission.admit(run.tx, pod)
    node, why = k8s.schedule(run.tx, run.spec, pod["spec"])
    if node is None:
        pod["status"] = {"conditions": [{"lastProbeTime": None, "lastTransitionTime": k8s.now(), "message": why,
                                         "reason": "Unschedulable", "status": "False", "type": "PodScheduled"}],
                         "phase": "Pending", "qosClass": pod_status.qos_class(pod["spec"])}
        run.tx.put(pod)
        return Change("Pod", name, ns, "created", warning=f"pod/{name} is Pending: {why}")
    why = None
    if pod_start.delay(run.tx) > 0:  # the lab simulates slow starts: the agent starts it later
        pod_start.mark_creating(run.tx, pod, node)
    else:
        why = pod_start.try_start(run.tx, pod, node)
    stored = run.tx.put(pod)
    k8s.link_wep(run.tx, stored)
    if why is not None:  # created all the same, as on a cluster: the event tells the student why it waits
        pod_start.sandbox_failed(run.tx, stored, why)
    return Change("Pod", name, ns, "created")


def sync_wep_labels(tx, pod: dict) -> None:
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


def apply_netpol(run: Run, obj: dict) -> Change:
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
        raise already_exists("NetworkPolicy", name, ns)
    check_resource_version("NetworkPolicy", obj, old)
    labels, ann = merged_meta(old, obj, run.mode)
    if old is not None and old.get("spec") == spec and not meta_changed(old, labels, ann):
        return Change("NetworkPolicy", name, ns, "unchanged")
    run.tx.put({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann}, "spec": spec})
    return Change("NetworkPolicy", name, ns, "configured" if old else "created")

