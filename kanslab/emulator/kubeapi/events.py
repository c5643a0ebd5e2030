"""What the scheduler and the kubelet report about the lab's pods: events and container logs.

The lab has no scheduler or kubelet process, so their events are derived from each pod's stored
state when they are read: Scheduled (or FailedScheduling), then for each container Pulling/Pulled,
Created and Started, with the pod's own timestamps and the messages kubelet v1.30 writes
(pkg/kubelet/events, kuberuntime_container.go, images/image_manager.go). Event objects the
datastore holds (when it has the kind) are served beside them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from ..images import image_name
from .tables import parse_time


def _event_name(obj_name: str, ts: str, salt: int) -> str:
    """record.EventRecorder names events "<object>.<hex of UnixNano>"."""
    t = parse_time(ts) or datetime.fromtimestamp(0, timezone.utc)
    return f"{obj_name}.{int(t.timestamp() * 1e9) + salt:x}"


def pod_event(pod: dict, reason: str, message: str, ts: str, *, kind: str = "Normal", field_path: str = "",
           kubelet: bool = True, salt: int = 0) -> dict:
    meta = pod["metadata"]
    node = (pod.get("spec") or {}).get("nodeName") or ""
    inv = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid", ""),
           "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        inv["fieldPath"] = field_path
    name = _event_name(meta["name"], ts, salt)
    ev = {"apiVersion": "v1", "kind": "Event",
          "metadata": {"name": name, "namespace": meta["namespace"], "creationTimestamp": ts,
                       "resourceVersion": meta.get("resourceVersion", ""),
                       "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanslab:event/{meta.get('uid')}/{name}/{reason}"))},
          "involvedObject": inv, "reason": reason, "message": message, "type": kind, "count": 1}
    if kubelet:
        ev.update({"source": {"component": "kubelet", "host": node}, "firstTimestamp": ts, "lastTimestamp": ts,
                   "reportingComponent": "kubelet", "reportingInstance": node})
    else:
        # the scheduler records through events.k8s.io/v1: no source, no first/lastTimestamp, an eventTime
        t = parse_time(ts)
        micro = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else ts
        ev.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "eventTime": micro,
                   "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-k8s-m",
                   "action": "Scheduling" if reason == "FailedScheduling" else "Binding"})
        ev.pop("count")
    return ev


def pod_events(pod: dict) -> list[dict]:
    meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    created = meta.get("creationTimestamp") or ""
    out = []
    sched = next((c for c in st.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if sched is not None and sched.get("status") == "False":
        out.append(pod_event(pod, "FailedScheduling", sched.get("message", ""), created, kind="Warning",
                          kubelet=False))
        return out
    node = spec.get("nodeName")
    if not node:
        return out
    out.append(pod_event(pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                      created, kubelet=False))
    started = st.get("startTime") or created
    statuses = {c.get("name"): c for c in st.get("containerStatuses") or []}
    salt = 1
    for c in spec.get("containers") or []:
        cs = statuses.get(c["name"]) or {}
        if "running" not in (cs.get("state") or {}):
            continue
        path = f"spec.containers{{{c['name']}}}"
        image = c.get("image", "")
        if c.get("imagePullPolicy") == "Always":
            out.append(pod_event(pod, "Pulling", f'Pulling image "{image}"', created, field_path=path, salt=salt))
            seconds = max(0.0, ((parse_time(started) or datetime.now(timezone.utc)) -
                                (parse_time(created) or datetime.now(timezone.utc))).total_seconds())
            # the pull time is the pod's own creation-to-start time; the lab cannot know the image size,
            # so the " Image size: N bytes." kubelet appends is left out rather than invented
            took = f"{seconds:g}s"
            out.append(pod_event(pod, "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including '
                              "waiting)", started, field_path=path, salt=salt + 1))
        else:
            out.append(pod_event(pod, "Pulled", f'Container image "{image}" already present on machine', started,
                              field_path=path, salt=salt + 1))
        out.append(pod_event(pod, "Created", f"Created container {c['name']}", started, field_path=path, salt=salt + 2))
        out.append(pod_event(pod, "Started", f"Started container {c['name']}", started, field_path=path, salt=salt + 3))
        salt += 4
    return out


def _whoami_port(container: dict) -> str:
    """traefik/whoami listens on --port, else $WHOAMI_PORT_NUMBER, else 80 (its app.go)."""
    args = [str(a) for a in (container.get("args") or []) + (container.get("command") or [])]
    for i, a in enumerate(args):
        if a in ("--port", "-port") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(("--port=", "-port=")):
            return a.split("=", 1)[1]
    for e in container.get("env") or []:
        if e.get("name") == "WHOAMI_PORT_NUMBER" and e.get("value"):
            return str(e["value"])
    return "80"


class LogError(Exception):
    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.message, self.code = message, code


def container_log(pod: dict, container: str | None) -> str:
    """What `kubectl logs` shows: whoami's startup line (Go's log format) for traefik/whoami containers."""
    meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    if container is None:
        if len(names) != 1:
            raise LogError(f"a container name must be specified for pod {meta['name']}, choose one of: "
                           f"[{' '.join(names)}]")
        container = names[0]
    if container not in names:
        raise LogError(f"container {container} is not valid for pod {meta['name']}")
    c = next(c for c in spec["containers"] if c["name"] == container)
    cs = next((s for s in st.get("containerStatuses") or [] if s.get("name") == container), None)
    running = (cs or {}).get("state", {}).get("running")
    if not running:
        waiting = ((cs or {}).get("state", {}).get("waiting") or {}).get("reason") or "ContainerCreating"
        raise LogError(f'container "{container}" in pod "{meta["name"]}" is waiting to start: {waiting}')
    if image_name(c.get("image", "")) != "traefik/whoami":
        return ""
    t = parse_time(running.get("startedAt")) or datetime.now(timezone.utc)
    return f"{t.strftime('%Y/%m/%d %H:%M:%S')} Starting up on port {_whoami_port(c)}\n"
