"""Events kube-controller-manager's controllers record, stored as core/v1 Event objects.

The kubelet's and scheduler's pod events are derived from pod state when read (kubeapi/events.py);
a controller's events are history (a scale-up then a scale-down), so they are stored when the lab's
controllers act (workloads.py). Reasons and messages are the controllers' own (v1.30:
pkg/controller/deployment/sync.go "Scaled up replica set %s to %d" / "Scaled down ...";
pkg/controller/controller_utils.go SuccessfulCreate "Created pod: %v", SuccessfulDelete "Deleted pod: %v").
"""

from __future__ import annotations

import time

from . import k8s_objects as k8s

COMPONENT = {"Deployment": "deployment-controller", "ReplicaSet": "replicaset-controller",
             "DaemonSet": "daemonset-controller"}


def record(tx, obj: dict, reason: str, message: str) -> None:
    meta = obj["metadata"]
    ts = k8s.now()
    base = f"{meta['name']}.{time.time_ns():x}"
    name, n = base, 0
    while tx.get("Event", name, meta["namespace"]) is not None:   # two events in one nanosecond tick
        n += 1
        name = f"{base}{n}"
    component = COMPONENT[obj["kind"]]
    tx.put({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": obj.get("apiVersion", "apps/v1"), "kind": obj["kind"],
                               "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid", ""),
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": "Normal", "count": 1,
            "source": {"component": component}, "firstTimestamp": ts, "lastTimestamp": ts,
            "eventTime": None, "reportingComponent": component, "reportingInstance": ""})
