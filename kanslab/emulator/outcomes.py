"""What applying/deleting an object results in: a Change, or an ApplyError the CLIs word per tool."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInput

# kubectl's resource names (what it prints before the slash) per kind
KUBECTL_RESOURCE = {
    "Namespace": "namespace", "Pod": "pod", "Node": "node",
    "NetworkPolicy": "networkpolicy.networking.k8s.io",
    "IPPool": "ippool.projectcalico.org", "BGPPeer": "bgppeer.projectcalico.org",
    "BGPConfiguration": "bgpconfiguration.projectcalico.org",
    "FelixConfiguration": "felixconfiguration.projectcalico.org",
    "KubeControllersConfiguration": "kubecontrollersconfiguration.projectcalico.org",
    "CalicoNode": "node.projectcalico.org", "IPReservation": "ipreservation.projectcalico.org",
    "CalicoNetworkPolicy": "networkpolicy.projectcalico.org",
    "GlobalNetworkPolicy": "globalnetworkpolicy.projectcalico.org",
    "ConfigMap": "configmap", "Secret": "secret", "ServiceAccount": "serviceaccount",
    "Role": "role.rbac.authorization.k8s.io", "ClusterRole": "clusterrole.rbac.authorization.k8s.io",
    "RoleBinding": "rolebinding.rbac.authorization.k8s.io",
    "ClusterRoleBinding": "clusterrolebinding.rbac.authorization.k8s.io",
    "Deployment": "deployment.apps", "ReplicaSet": "replicaset.apps", "DaemonSet": "daemonset.apps",
    "Service": "service", "Endpoints": "endpoints", "EndpointSlice": "endpointslice.discovery.k8s.io",
}
# the plural the API server uses in its messages ("pods \"x\" not found")
PLURAL = {"Namespace": "namespaces", "Pod": "pods", "Node": "nodes", "NetworkPolicy": "networkpolicies",
          "IPPool": "ippools", "BGPPeer": "bgppeers", "BGPConfiguration": "bgpconfigurations",
          "FelixConfiguration": "felixconfigurations",
          "KubeControllersConfiguration": "kubecontrollersconfigurations", "CalicoNode": "nodes",
          "IPReservation": "ipreservations", "CalicoNetworkPolicy": "networkpolicies",
          "GlobalNetworkPolicy": "globalnetworkpolicies", "ConfigMap": "configmaps", "Secret": "secrets",
          "ServiceAccount": "serviceaccounts", "Role": "roles.rbac.authorization.k8s.io",
          "ClusterRole": "clusterroles.rbac.authorization.k8s.io",
          "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
          "ClusterRoleBinding": "clusterrolebindings.rbac.authorization.k8s.io",
          "Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps", "DaemonSet": "daemonsets.apps",
          "Service": "services", "Endpoints": "endpoints", "EndpointSlice": "endpointslices"}


@dataclass(frozen=True)
class Change:
    kind: str              # canonical kind; "CalicoNode" for a projectcalico.org/v3 Node
    name: str
    namespace: str | None
    verb: str              # created | configured | unchanged | deleted
    warning: str = ""      # e.g. why a pod is Pending

    @property
    def display_kind(self) -> str:
        return {"CalicoNode": "Node", "CalicoNetworkPolicy": "NetworkPolicy"}.get(self.kind, self.kind)

    def kubectl(self) -> str:
        """kubectl's line: `pod/pod1 created`, or `pod "pod1" deleted` for deletions."""
        res = KUBECTL_RESOURCE.get(self.kind, self.kind.lower())
        if self.verb == "deleted":
            return f'{res} "{self.name}" deleted'
        return f"{res}/{self.name} {self.verb}"


class ApplyError(InvalidInput):
    """An object was refused; nothing was changed.

    `reason` is the text the real tool's server side gives (Calico's `error with field ...`,
    Kubernetes' `spec: Forbidden: ...`); `status` is the Kubernetes status reason (Invalid,
    NotFound, AlreadyExists, Forbidden, BadRequest); `file_invalid` marks a manifest calicoctl
    could not even load (it words those `Failed to execute command: ...`)."""

    def __init__(self, kind: str, name: str, reason: str, *, namespace: str | None = None,
                 status: str = "Invalid", file_invalid: bool = False):
        self.kind, self.name, self.namespace = kind, name, namespace
        self.reason, self.status, self.file_invalid = reason, status, file_invalid
        who = f"{namespace}/{name}" if namespace else name
        shown = {"CalicoNode": "Node", "CalicoNetworkPolicy": "NetworkPolicy"}.get(kind, kind)
        super().__init__(f"{shown} {who}: {reason}" if name else reason)


def calico_field_error(fields: list[tuple[str, object, str]]) -> str:
    """libcalico-go's ErrorValidation text for (field, value, reason) triples."""
    def one(name: str, value: object, reason: str) -> str:
        s = name if value is None else f"{name} = '{value}'"
        return f"{s} ({reason})" if reason else s
    if len(fields) == 1:
        return "error with field " + one(*fields[0])
    return "error with the following fields:\n" + "".join(f"-  {one(*f)}\n" for f in fields)
