"""Pods that take time to start, as on a real cluster (image pulls take tens of seconds there).

With a start delay set for the lab (`KANSLAB_POD_START_DELAY=<seconds>` when `kanslab up` runs; kept
in the datastore, so every process of the lab agrees), a new pod is scheduled but stays Pending with
its containers `ContainerCreating` (no IP, no WorkloadEndpoint, not reachable) until the lab's agent,
playing the kubelet, runs the CNI ADD for it once the delay has passed. Without a delay pods start
within the apply, as before."""

from __future__ import annotations

import copy
import os

from ..errors import InvalidInput
from . import k8s_objects as k8s
from .endpoints import sync_endpoints
from .outcomes import ApplyError

SETTING = "pod_start_delay_ms"
ENV = "KANSLAB_POD_START_DELAY"


def delay_from_env(environ=os.environ) -> float | None:
    """Seconds from KANSLAB_POD_START_DELAY, None when it is not set."""
    raw = environ.get(ENV)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise InvalidInput(f"{ENV}={raw!r}: give the pod start delay in seconds, 0 to 3600")
    return value


def delay(tx) -> float:
    return tx.setting(SETTING) / 1000.0


def set_delay(ds, seconds: float) -> None:
    with ds.transaction() as tx:
        tx.set_setting(SETTING, round(seconds * 1000))


def mark_creating(tx, pod: dict, node: str) -> None:
    """Scheduled on `node`, containers being created: what a real pod shows while its image is pulled."""
    knode = tx.get("Node", node) or {}
    host_ip = next((a["address"] for a in knode.get("status", {}).get("addresses", [])
                    if a.get("type") == "InternalIP"), "")
    names = [c["name"] for c in pod["spec"]["containers"]]
    not_ready = {"status": "False", "reason": "ContainersNotReady",
                 "message": f"containers with unready status: [{' '.join(names)}]"}
    pod["spec"]["nodeName"] = node
    pod["status"] = {
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", **not_ready},
                       {"type": "ContainersReady", **not_ready}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                               "restartCount": 0, "started": False,
                               "state": {"waiting": {"reason": "ContainerCreating"}}}
                              for c in pod["spec"]["containers"]],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "phase": "Pending", "qosClass": "BestEffort",
        "startTime": k8s.now(),
    }


def check_startable(tx, pod: dict, node: str) -> None:
    """Raise the ApplyError starting the pod now would raise (a pinned address in use, no free address):
    the lab refuses such a pod at apply with or without a delay, and changes nothing."""
    with tx.trial() as trial:
        k8s.start_pod(trial, copy.deepcopy(pod), node, str(tx.revision()))


def is_creating(pod: dict) -> bool:
    st = pod.get("status") or {}
    return (st.get("phase") == "Pending" and bool(pod["spec"].get("nodeName")) and not st.get("podIP")
            and any(((c.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
                    for c in st.get("containerStatuses") or []))


def start(ds, namespace: str, name: str, uid: str) -> str | None:
    """Start one creating pod (CNI ADD); None, or why it could not start (it stays ContainerCreating)."""
    with ds.transaction() as tx:
        pod = tx.get("Pod", name, namespace)
        if pod is None or pod["metadata"].get("uid") != uid or not is_creating(pod):
            return None
        try:
            k8s.start_pod(tx, pod, pod["spec"]["nodeName"], str(tx.revision()))
        except ApplyError as e:
            return str(e)
        tx.put(pod)
        sync_endpoints(tx)  # the pod is Ready now: the endpoints controllers add it
    return None
