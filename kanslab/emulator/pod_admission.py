"""What kube-apiserver v1.30's admission plugins add to a pod when it is created (not to templates,
and not again on updates), so `kubectl get pod -o yaml` and `describe pod` show what a cluster shows.

- ServiceAccount (plugin/pkg/admission/serviceaccount/admission.go, `mountServiceAccountToken`): a
  projected volume `kube-api-access-<5 random characters>` holding the token (expirationSeconds 3607),
  kube-root-ca.crt's ca.crt and the pod's namespace, mounted read-only at
  /var/run/secrets/kubernetes.io/serviceaccount in every container. Not for mirror pods (kubelet's
  static pods) nor when automountServiceAccountToken is false on the pod, else on its ServiceAccount.
- DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds): NoExecute tolerations of
  node.kubernetes.io/not-ready and node.kubernetes.io/unreachable for 300 s, unless one already
  tolerates them (a toleration with that key or no key, for NoExecute or every effect).
- Priority (plugin/pkg/admission/priority): the class's value (the two built-in classes below; 0 with
  no class and no global default) and its preemptionPolicy, PreemptLowerPriority.
"""

from __future__ import annotations

from .k8s_objects import name_suffix

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# scheduling/types.go: SystemCriticalPriority = 2 * HighestUserDefinablePriority (1e9)
PRIORITY = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def admit(tx, pod: dict, mirror: bool = False) -> dict:
    """Add the admission plugins' fields to a new pod (in place); returns the pod."""
    spec, ns = pod["spec"], pod["metadata"]["namespace"]
    if not mirror and _automount(tx, spec, ns):
        _mount_token(spec, name_suffix("kube-api-access", ns, pod["metadata"]["name"]))
    _default_tolerations(spec)
    spec.setdefault("priority", PRIORITY.get(spec.get("priorityClassName") or "", 0))
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return pod


def _automount(tx, spec: dict, ns: str) -> bool:
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    sa = tx.get("ServiceAccount", spec.get("serviceAccountName") or "default", ns) or {}
    return sa.get("automountServiceAccountToken") is not False


def _mount_token(spec: dict, suffix: str) -> None:
    name = f"kube-api-access-{suffix}"
    spec.setdefault("volumes", []).append({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}}]}})
    for c in (spec.get("initContainers") or []) + spec["containers"]:
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == TOKEN_PATH for m in mounts):
            mounts.append({"mountPath": TOKEN_PATH, "name": name, "readOnly": True})


def _default_tolerations(spec: dict) -> None:
    have = spec.get("tolerations") or []
    for key in _TAINTS:
        if not any(t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute") for t in have):
            have = have + [{"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300}]
    if have:
        spec["tolerations"] = have
