"""Deployment, ReplicaSet and DaemonSet (apps/v1): stored, defaulted and validated as kube-apiserver
does, and reconciled at once as kube-controller-manager's controllers would.

- A Deployment owns one ReplicaSet per pod template, named `<deployment>-<pod-template-hash>`; the
  current one is scaled to `spec.replicas`, older ones to 0 (the lab replaces at once instead of
  rolling).
- A ReplicaSet owns pods named `<replicaset>-<5 characters>` (generateName), created through the
  same path as any pod (k8s_apply.apply_pod: scheduler, Calico IPAM, WorkloadEndpoint).
- A DaemonSet owns one pod per node its nodeSelector selects and whose taints its pods tolerate,
  with the tolerations the DaemonSet controller adds (pkg/controller/daemon/util
  AddOrUpdateDaemonPodTolerations) and a nodeAffinity on the node's name.
Deleting an owner deletes what it owns (background cascading deletion); deleting an owned pod makes
its owner create another. Status comes from workload_status.py.
"""

from __future__ import annotations

import copy
import json

from . import controller_events, pod_admission
from . import k8s_objects as k8s
from . import workload_status as ws
from .core_objects import check_known_fields
from .k8s_apply import apply_pod
from .kinds import Run, merged_meta, meta_changed, stored_for_write
from .kube_system import name_suffix, run_on_host
from .netpol import selector_matches
from .outcomes import ApplyError, Change

KINDS = ("Deployment", "ReplicaSet", "DaemonSet")
REVISION = "deployment.kubernetes.io/revision"


def _invalid(kind: str, name: str, ns: str, causes: list[tuple[str, str]]) -> ApplyError:
    texts = [f"{f}: {m}" for f, m in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    err = ApplyError(kind, name, f'The {kind} "{name}" is invalid: {joined}', namespace=ns)
    err.causes = causes
    return err


def _go_map(m: dict) -> str:
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(m.items())) + "}"


def _selector_matches(sel: dict, labels: dict) -> bool:
    return selector_matches(sel, labels)   # metav1.LabelSelector semantics, one home (netpol.py)


# ---------------------------------------------------------------- validation and defaults

def normalized_spec(kind: str, name: str, ns: str, obj: dict, old: dict | None, spec) -> dict:
    s = obj.get("spec")
    if not isinstance(s, dict):
        raise _invalid(kind, name, ns, [("spec.selector", "Required value"),
                                        ("spec.template.spec.containers", "Required value")])
    s = copy.deepcopy(s)
    causes = []
    sel = s.get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    template = s.get("template") if isinstance(s.get("template"), dict) else {}
    tmeta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    labels = tmeta.get("labels") or {}
    if isinstance(sel, dict) and (sel.get("matchLabels") or sel.get("matchExpressions")) and \
            not _selector_matches(sel, labels):
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`"))
    if kind != "DaemonSet":
        r = s.get("replicas", 1)
        if not isinstance(r, int) or isinstance(r, bool):
            raise ApplyError(kind, name, f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot '
                             f"unmarshal {type(r).__name__} into Go struct field {kind}Spec.spec.replicas of type "
                             "int32", namespace=ns, status="BadRequest")
        if r < 0:
            causes.append(("spec.replicas", f"Invalid value: {r}: must be greater than or equal to 0"))
    if old is not None and isinstance(sel, dict) and old["spec"].get("selector") != sel:
        causes.append(("spec.selector", "Invalid value: " + json.dumps(sel, sort_keys=True) + ": field is immutable"))
    tspec = template.get("spec")
    pod = {"metadata": {"name": name, "namespace": ns, "annotations": tmeta.get("annotations") or {}},
           "spec": tspec if isinstance(tspec, dict) else {}}
    try:
        k8s.validate_pod(pod, spec)
    except ApplyError as e:
        detail = e.reason.split(" is invalid: ", 1)[-1]
        field, _, msg = detail.partition(": ")
        causes.append(("spec.template." + field, msg))
    if causes:
        raise _invalid(kind, name, ns, causes)
    s["template"] = {"metadata": {"creationTimestamp": None, **{k: v for k, v in tmeta.items()
                                                                 if k in ("labels", "annotations")}},
                     "spec": k8s.default_pod_spec(tspec)}
    s.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        s.setdefault("replicas", 1)
        s.setdefault("progressDeadlineSeconds", 600)
        s.setdefault("strategy", {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    elif kind == "ReplicaSet":
        s.pop("revisionHistoryLimit")
        s.setdefault("replicas", 1)
    else:
        s.setdefault("updateStrategy", {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    return s


# ---------------------------------------------------------------- apply

def apply_workload(run: Run, kind: str, obj: dict) -> Change:
    meta = obj["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    k8s.check_k8s_name(kind, name, ns)
    check_known_fields(kind, obj)
    old = stored_for_write(run, kind, obj, name, ns)
    spec = normalized_spec(kind, name, ns, obj, old, run.spec)
    labels, ann = merged_meta(old, obj, run.mode, keep=(REVISION,))
    if old is not None and old["spec"] == spec and not meta_changed(old, labels, ann):
        reconcile(run, old)   # a pod deleted meanwhile comes back, as the controller would do
        return Change(kind, name, ns, "unchanged")
    run.controller_warnings = []
    generation = 1 if old is None else old["metadata"].get("generation", 1) + (old["spec"] != spec)
    new = {"apiVersion": "apps/v1", "kind": kind,
           "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann,
                        "generation": generation}, "spec": spec}
    if old is not None and old.get("status"):
        new["status"] = old["status"]
    reconcile(run, run.tx.put(new))
    return Change(kind, name, ns, "configured" if old else "created",
                  warning="; ".join(dict.fromkeys(run.controller_warnings)))


def reconcile(run: Run, obj: dict) -> None:
    {"Deployment": _reconcile_deployment, "ReplicaSet": _reconcile_replicaset,
     "DaemonSet": _reconcile_daemonset}[obj["kind"]](run, obj)


def owner_ref(obj: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _reconcile_deployment(run: Run, dep: dict) -> None:
    tx, ns = run.tx, dep["metadata"]["namespace"]
    want = int(dep["spec"]["replicas"])
    rss = ws.owned(tx, "ReplicaSet", dep)
    current = next((r for r in rss if ws.same_template(r, dep)), None)
    revision = max([int((r["metadata"].get("annotations") or {}).get(REVISION, "0")) for r in rss] + [0])
    if current is None:
        h = ws.template_hash(dep["spec"]["template"])
        template = copy.deepcopy(dep["spec"]["template"])
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = h
        sel = copy.deepcopy(dep["spec"]["selector"])
        sel.setdefault("matchLabels", {})["pod-template-hash"] = h
        revision += 1
        current = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": f"{dep['metadata']['name']}-{h}", "namespace": ns,
                                "labels": dict(template["metadata"]["labels"]), "generation": 1,
                                "annotations": {REVISION: str(revision)},
                                "ownerReferences": [owner_ref(dep)]},
                   "spec": {"replicas": want, "selector": sel, "template": template}}
    surge = _surge(dep, want)
    current["metadata"]["annotations"].update({"deployment.kubernetes.io/desired-replicas": str(want),
                                               "deployment.kubernetes.io/max-replicas": str(want + surge)})
    scaled = current["spec"]["replicas"] if "uid" in current["metadata"] else 0
    if current["spec"]["replicas"] != want:
        current["spec"]["replicas"] = want
        current["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
    current = tx.put(current)
    if scaled != want:
        controller_events.record(tx, dep, "ScalingReplicaSet", f"Scaled {'up' if want > scaled else 'down'} replica "
                                 f"set {current['metadata']['name']} to {want} from {scaled}" if scaled else
                                 f"Scaled up replica set {current['metadata']['name']} to {want}")
    _reconcile_replicaset(run, current)
    for r in rss:
        if r["metadata"]["name"] != current["metadata"]["name"] and r["spec"].get("replicas"):
            controller_events.record(tx, dep, "ScalingReplicaSet", f"Scaled down replica set "
                                     f"{r['metadata']['name']} to 0 from {r['spec']['replicas']}")
            r["spec"]["replicas"] = 0
            r["metadata"]["generation"] = r["metadata"].get("generation", 1) + 1
            _reconcile_replicaset(run, tx.put(r))
    ann = dict(dep["metadata"].get("annotations") or {})
    if ann.get(REVISION) != current["metadata"]["annotations"][REVISION]:
        ann[REVISION] = current["metadata"]["annotations"][REVISION]
        dep["metadata"]["annotations"] = ann
        dep = tx.put(dep)
    ws.refresh_deployment(tx, tx.get("Deployment", dep["metadata"]["name"], ns))


def _surge(dep: dict, want: int) -> int:
    v = ((dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(v, str) and v.endswith("%"):
        return -(-want * int(v[:-1]) // 100)   # maxSurge rounds up
    return int(v)


def _new_pod(run: Run, owner: dict, base: str, template: dict, node: str | None = None,
             extra_labels: dict | None = None) -> None:
    tx, ns = run.tx, owner["metadata"]["namespace"]
    i = 0
    while True:   # util/rand.String(5) after generateName; drawn from the revision so labs are reproducible
        name = f"{base}-{name_suffix(base, str(tx.revision()), str(i))}"
        if tx.get("Pod", name, ns) is None:
            break
        i += 1
    spec = copy.deepcopy(template["spec"])
    if node is not None:
        spec["nodeName"] = node
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "generateName": f"{base}-", "namespace": ns,
                        "labels": {**(template["metadata"].get("labels") or {}), **(extra_labels or {})},
                        "annotations": dict(template["metadata"].get("annotations") or {}),
                        "ownerReferences": [owner_ref(owner)]},
           "spec": spec}
    if spec.get("hostNetwork") and node is not None:   # no CNI: the pod has its node's address
        pod["spec"] = k8s.default_pod_spec(spec)
        ip = next(f.ip for f in run.spec.nodes if f.name == node)
        tx.put(run_on_host(tx.put(pod_admission.admit(tx, pod)), ip))
        return
    try:
        with tx.savepoint():
            apply_pod(Run(tx, run.spec, "create"), pod)
        controller_events.record(tx, owner, "SuccessfulCreate", f"Created pod: {name}")
    except ApplyError as e:
        # on a cluster the pod would exist and wait (an event says why); the lab leaves it out and says so
        # on the owner's apply, and the owner's status counts one pod fewer
        warnings = getattr(run, "controller_warnings", None)
        if warnings is not None:
            warnings.append(f"{owner['kind'].lower()}/{owner['metadata']['name']} could not create pod {name}: "
                            f"{e.reason}")


def delete_pod(tx, pod: dict) -> None:
    k8s.stop_pod(tx, pod)
    tx.delete("Pod", pod["metadata"]["name"], pod["metadata"]["namespace"])


def _reconcile_replicaset(run: Run, rs: dict) -> None:
    tx = run.tx
    pods = sorted(ws.owned(tx, "Pod", rs), key=lambda p: int(p["metadata"].get("resourceVersion") or 0))
    want = int(rs["spec"].get("replicas", 1))
    for _ in range(want - len(pods)):
        _new_pod(run, rs, rs["metadata"]["name"], rs["spec"]["template"])
    for pod in pods[want:][::-1] if len(pods) > want else []:
        delete_pod(tx, pod)   # the newest go first (controller.ActivePods ranking, roughly)
        controller_events.record(tx, rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
    ws.refresh_replicaset(tx, tx.get("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["namespace"]))


def _daemon_nodes(tx, run: Run, ds: dict) -> list[str]:
    tspec = ds["spec"]["template"]["spec"]
    tolerations = k8s.daemon_tolerations(tspec)
    out = []
    for facts in run.spec.nodes:
        node = tx.get("Node", facts.name) or {}
        labels = node.get("metadata", {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in (tspec.get("nodeSelector") or {}).items()):
            continue
        taints = node.get("spec", {}).get("taints") or []
        if any(t.get("effect") in ("NoSchedule", "NoExecute") and not k8s._tolerates(tolerations, t)
               for t in taints):
            continue
        out.append(facts.name)
    return out


def _reconcile_daemonset(run: Run, ds: dict) -> None:
    tx = run.tx
    nodes = _daemon_nodes(tx, run, ds)
    have = {p["spec"].get("nodeName"): p for p in ws.owned(tx, "Pod", ds)}
    gen = str(ds["metadata"].get("generation", 1))
    template = copy.deepcopy(ds["spec"]["template"])
    template["spec"]["tolerations"] = k8s.daemon_tolerations(template["spec"])
    revision_hash = ws.template_hash(ds["spec"]["template"])
    for node, pod in have.items():
        stale = (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision_hash
        if node not in nodes or stale:
            delete_pod(tx, pod)
            controller_events.record(tx, ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
    have = {n: p for n, p in have.items() if n in nodes and tx.get("Pod", p["metadata"]["name"],
                                                                   p["metadata"]["namespace"])}
    for node in nodes:
        if node in have:
            continue
        t = copy.deepcopy(template)
        # the controller pins each pod with a nodeAffinity on the node's name (util.ReplaceDaemonSetPodNodeNameNodeAffinity)
        t["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
        _new_pod(run, ds, ds["metadata"]["name"], t, node,
                 {"controller-revision-hash": revision_hash, "pod-template-generation": gen})
    ws.refresh_daemonset(tx, tx.get("DaemonSet", ds["metadata"]["name"], ds["metadata"]["namespace"]), len(nodes))


# ---------------------------------------------------------------- deleting

def delete_owned(tx, obj: dict) -> None:
    """Background cascading deletion: what `obj` owns goes with it (ReplicaSets, then their pods)."""
    if obj["kind"] == "Deployment":
        for rs in ws.owned(tx, "ReplicaSet", obj):
            delete_owned(tx, rs)
            tx.delete("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["namespace"])
        return
    for pod in ws.owned(tx, "Pod", obj):
        delete_pod(tx, pod)


def after_pod_deleted(run: Run, pod: dict) -> None:
    """A pod its ReplicaSet or DaemonSet still wants: the controller makes a new one."""
    ref = ws.controller_of(pod)
    if ref is None or ref.get("kind") not in ("ReplicaSet", "DaemonSet"):
        return
    owner = run.tx.get(ref["kind"], ref["name"], pod["metadata"]["namespace"])
    if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
        reconcile(run, owner)
