"""Pods that take time to start, as on a real cluster (image pulls take tens of seconds there).

With a start delay set for the lab (`KANSLAB_POD_START_DELAY=<seconds>` when `kanslab up` runs; kept
in the datastore, so every process of the lab agrees), a new pod is scheduled but stays Pending with
its containers `ContainerCreating` (no IP, no WorkloadEndpoint, not reachable) until the lab's agent,
playing the kubelet, runs the CNI ADD for it once the delay has passed. Without a delay pods start
within the apply, as before."""

from __future__ import annotations

import os

from ..errors import InvalidInput
from . import k8s_objects as k8s
from . import pod_status, workload_status
from .endpoints import sync_endpoints
from .kubeapi.events import pod_event
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
    pod["spec"]["nodeName"] = node
    pod["status"] = pod_status.creating(pod, host_ip, k8s.now())


def try_start(tx, pod: dict, node: str) -> str | None:
    """The CNI ADD for a new pod, as the kubelet runs it: None when the pod runs, else the CNI's error.
    A refused pod is not rejected: as on a cluster it stays ContainerCreating (the caller stores it and
    then `sandbox_failed`), and the failed attempt leaves nothing behind in IPAM."""
    try:
        with tx.savepoint():
            k8s.start_pod(tx, pod, node, str(tx.revision()))
    except ApplyError as e:
        if e.status != "CNIError":
            raise
        mark_creating(tx, pod, node)
        return e.reason
    return None


def sandbox_failed(tx, pod: dict, why: str, attempt: int = 0) -> dict:
    """Store the event kubelet v1.30 records when the runtime cannot set up the pod's network
    (kuberuntime_manager.go: `Failed to create pod sandbox: %v` with containerd 1.7's gRPC error,
    `failed to setup network for sandbox "<id>": <CNI error>`). Each attempt is a new sandbox, so a
    new id and a new event, as `kubectl get events` shows on a cluster. `pod` must be stored already."""
    meta = pod["metadata"]
    sandbox = k8s.container_id(meta["namespace"], meta["name"], f"{meta.get('uid')}/sandbox/{attempt}")
    message = ("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
               f'sandbox "{sandbox}": {why}')
    event = pod_event(pod, "FailedCreatePodSandBox", message, k8s.now(), kind="Warning", salt=7 + attempt)
    event["metadata"].pop("resourceVersion", None)
    event["metadata"].pop("uid", None)
    return tx.put(event)


def is_creating(pod: dict) -> bool:
    st = pod.get("status") or {}
    return (st.get("phase") == "Pending" and bool(pod["spec"].get("nodeName")) and not st.get("podIP")
            and any(((c.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
                    for c in st.get("containerStatuses") or []))


def start(ds, namespace: str, name: str, uid: str, attempt: int = 0) -> str | None:
    """Start one creating pod (CNI ADD); None, or why it could not start: then it stays
    ContainerCreating and a FailedCreatePodSandBox event says why."""
    with ds.transaction() as tx:
        pod = tx.get("Pod", name, namespace)
        if pod is None or pod["metadata"].get("uid") != uid or not is_creating(pod):
            return None
        why = try_start(tx, pod, pod["spec"]["nodeName"])
        if why is not None:
            sandbox_failed(tx, pod, why, attempt)
            return why
        workload_status.refresh_for_pod(tx, tx.put(pod))
        sync_endpoints(tx)  # the pod is Ready now: the endpoints controllers add it
    return None
