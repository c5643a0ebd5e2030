"""The kubelet's node leases (coordination.k8s.io/v1, namespace kube-node-lease), derived when read.

The lab runs no kubelet, so no process renews a Lease; each node's is built from the Node as kubelet
v1.30 keeps it (component-helpers/apimachinery/lease/controller.go, pkg/kubelet/kubelet.go): named after
the node, owned by the Node, holderIdentity the node's name, leaseDurationSeconds 40, renewed every
10 s (a quarter of the duration, `nodeLeaseRenewIntervalFraction`). `kubectl describe node` reads it for
its Lease section (HolderIdentity, AcquireTime <unset>, RenewTime).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from .tables import parse_time

NAMESPACE = "kube-node-lease"
DURATION_S = 40
RENEW_S = DURATION_S // 4


def node_lease(node: dict, now: datetime) -> dict:
    meta = node["metadata"]
    created = parse_time(meta.get("creationTimestamp")) or now
    renewed = created + timedelta(seconds=RENEW_S * max(0, int((now - created).total_seconds()) // RENEW_S))
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": meta["name"], "namespace": NAMESPACE,
                         "creationTimestamp": meta.get("creationTimestamp"),
                         "resourceVersion": meta.get("resourceVersion", ""),
                         "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanslab:lease/{meta.get('uid', meta['name'])}")),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": meta["name"],
                                              "uid": meta.get("uid", "")}]},
            # metav1.MicroTime: RFC 3339 with microseconds
            "spec": {"holderIdentity": meta["name"], "leaseDurationSeconds": DURATION_S,
                     "renewTime": renewed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}


def node_leases(nodes: list[dict], ns: str | None, now: datetime) -> list[dict]:
    return [node_lease(n, now) for n in nodes] if ns in (None, NAMESPACE) else []
