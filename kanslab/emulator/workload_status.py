"""The status kube-controller-manager writes on ReplicaSets, Deployments and DaemonSets, from their pods.

Kept apart from workloads.py so that the pod-start path (pod_start.py, which runs when a delayed
pod finally starts) can refresh its owners' counts without importing the controllers.
Field names and condition texts: k8s.io/api apps/v1 types and pkg/controller/deployment/util
(MinimumReplicasAvailable, NewReplicaSetAvailable, ReplicaSetUpdated).
"""

from __future__ import annotations

import json

from . import k8s_objects as k8s

# k8s.io/apimachinery/pkg/util/rand SafeEncodeString's alphabet
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict, collision_count: int = 0) -> str:
    """controller.ComputeHash: FNV-32a of the pod template, printed in decimal, then SafeEncodeString.

    kube-controller-manager hashes the template as hashutil.DeepHashObject prints it (go-spew of the
    Go struct); the lab hashes its canonical JSON instead, so the form (up to 10 characters of the
    alphabet) is the real one but a given template's hash differs from a cluster's."""
    h = 0x811C9DC5
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(h))


def controller_of(obj: dict) -> dict | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def owned(tx, kind: str, owner: dict) -> list[dict]:
    uid, ns = owner["metadata"]["uid"], owner["metadata"].get("namespace")
    return [o for o in tx.list(kind, ns) if (controller_of(o) or {}).get("uid") == uid]


def pod_ready(pod: dict) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(c.get("type") == "Ready" and c.get("status") == "True"
                                                for c in st.get("conditions") or [])


def _put_if_changed(tx, obj: dict, status: dict, required: tuple[str, ...] = ()) -> dict:
    # omitempty, except for the fields apps/v1 declares without it
    status = {k: v for k, v in status.items() if k in required or v not in (0, None, [])}
    if obj.get("status") != status:
        obj["status"] = status
        obj = tx.put(obj)
    return obj


def _condition(old: dict, typ: str, status: str, reason: str, message: str) -> dict:
    prev = next((c for c in (old.get("status") or {}).get("conditions") or [] if c.get("type") == typ), None)
    now = k8s.now()
    same = prev is not None and (prev.get("status"), prev.get("reason"), prev.get("message")) == (status, reason,
                                                                                                 message)
    if same:
        return prev
    return {"lastTransitionTime": (prev or {}).get("lastTransitionTime") if prev and prev.get("status") == status
            else now, "lastUpdateTime": now, "message": message, "reason": reason, "status": status, "type": typ}


def refresh_replicaset(tx, rs: dict) -> dict:
    pods = owned(tx, "Pod", rs)
    ready = sum(1 for p in pods if pod_ready(p))
    return _put_if_changed(tx, rs, {"availableReplicas": ready, "fullyLabeledReplicas": len(pods),
                                    "observedGeneration": rs["metadata"].get("generation", 1),
                                    "readyReplicas": ready, "replicas": len(pods)}, ("replicas",))


def same_template(rs: dict, dep: dict) -> bool:
    """Is this ReplicaSet the deployment's current one (its template, less pod-template-hash)?"""
    t = json.loads(json.dumps(rs["spec"].get("template") or {}))
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return t == dep["spec"].get("template")


def refresh_deployment(tx, dep: dict) -> dict:
    rss = owned(tx, "ReplicaSet", dep)
    current = next((r for r in rss if same_template(r, dep)), None)
    want = int(dep["spec"].get("replicas", 1))
    total = sum(int((r.get("status") or {}).get("replicas") or 0) for r in rss)
    ready = sum(int((r.get("status") or {}).get("readyReplicas") or 0) for r in rss)
    updated = int(((current or {}).get("status") or {}).get("replicas") or 0)
    cur_name = (current or {}).get("metadata", {}).get("name", "")
    available = ready >= want - _max_unavailable(dep, want)
    conds = [_condition(dep, "Available", "True" if available else "False",
                        "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                        "Deployment has minimum availability." if available else
                        "Deployment does not have minimum availability.")]
    done = updated == want and ready == want and total == want
    conds.append(_condition(dep, "Progressing", "True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                            f'ReplicaSet "{cur_name}" has successfully progressed.' if done else
                            f'ReplicaSet "{cur_name}" is progressing.'))
    return _put_if_changed(tx, dep, {"availableReplicas": ready, "conditions": conds,
                                     "observedGeneration": dep["metadata"].get("generation", 1),
                                     "readyReplicas": ready, "replicas": total, "updatedReplicas": updated,
                                     "unavailableReplicas": max(0, want - ready)})


def _max_unavailable(dep: dict, want: int) -> int:
    """RollingUpdate's maxUnavailable (default 25%, rounded down, as deployment util resolves it)."""
    ru = ((dep["spec"].get("strategy") or {}).get("rollingUpdate") or {})
    v = ru.get("maxUnavailable", "25%")
    if isinstance(v, str) and v.endswith("%"):
        return (want * int(v[:-1])) // 100
    return int(v)


def refresh_daemonset(tx, ds: dict, desired: int) -> dict:
    pods = owned(tx, "Pod", ds)
    ready = sum(1 for p in pods if pod_ready(p))
    return _put_if_changed(tx, ds, {"currentNumberScheduled": len(pods), "desiredNumberScheduled": desired,
                                    "numberAvailable": ready, "numberMisscheduled": 0, "numberReady": ready,
                                    "observedGeneration": ds["metadata"].get("generation", 1),
                                    "updatedNumberScheduled": len(pods),
                                    "numberUnavailable": max(0, desired - ready)},
                           ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))


def refresh_for_pod(tx, pod: dict) -> None:
    """After a pod's state changed: its ReplicaSet (and that one's Deployment) or DaemonSet."""
    ref = controller_of(pod)
    ns = pod["metadata"].get("namespace")
    if ref is None or ref.get("kind") not in ("ReplicaSet", "DaemonSet"):
        return
    owner = tx.get(ref["kind"], ref["name"], ns)
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return
    if ref["kind"] == "DaemonSet":
        refresh_daemonset(tx, owner, int((owner.get("status") or {}).get("desiredNumberScheduled") or 0))
        return
    refresh_replicaset(tx, owner)
    dref = controller_of(owner)
    if dref and dref.get("kind") == "Deployment":
        dep = tx.get("Deployment", dref["name"], ns)
        if dep is not None and dep["metadata"].get("uid") == dref.get("uid"):
            refresh_deployment(tx, dep)
