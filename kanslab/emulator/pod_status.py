"""A pod's status as kubelet v1.30 writes it (pkg/kubelet/status, kubelet_pods.go convertToAPIContainerStatuses).

Kept in one place for every pod the lab runs: pods started through the CNI, hostNetwork pods (the
node's address is theirs), and pods still waiting in ContainerCreating. Conditions carry
`lastProbeTime: null` and their transition time, PodReadyToStartContainers first (the
PodReadyToStartContainersCondition feature, on by default since 1.29); a running container has the
runtime's `containerd://` id and an empty `lastState`, and its image as containerd reports it
(normalized to docker.io/...:latest). The image digest (`imageID`) is not known to the lab, so it is
left empty, as kubelet leaves it before the image is pulled.
"""

from __future__ import annotations

CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def runtime_image(image: str) -> str:
    """containerd's normalized reference (reference/docker ParseDockerRef): docker.io and library/ for
    short names, `:latest` when neither tag nor digest is given."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        image = f"docker.io/{image}" if rest else f"docker.io/library/{image}"
    if "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        image += ":latest"
    return image


def qos_class(spec: dict) -> str:
    """The pod's QoS class from its containers' cpu/memory requests and limits (apis/core/helper/qos
    GetPodQOS): none anywhere is BestEffort; limits on both for every container, equal to the requests
    (which default to the limits), is Guaranteed; anything else Burstable."""
    containers = (spec.get("initContainers") or []) + spec.get("containers", [])
    guaranteed, any_set = True, False
    for c in containers:
        res = c.get("resources") or {}
        limits = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        any_set = any_set or bool(limits or requests)
        if set(limits) != {"cpu", "memory"} or any(requests.get(k, v) != v for k, v in limits.items()):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _conditions(since: str, not_ready: dict | None = None, sandbox: bool = True) -> list[dict]:
    out = []
    for t in CONDITIONS:
        cond = {"lastProbeTime": None, "lastTransitionTime": since, "status": "True", "type": t}
        if t == "PodReadyToStartContainers" and not sandbox:
            cond["status"] = "False"
        if t in ("Ready", "ContainersReady") and not_ready:
            cond.update(not_ready)
        out.append(cond)
    return out


def running(pod: dict, host_ip: str, pod_ip: str, started: str, container_ids: list[str] | None = None) -> dict:
    """Every container running since `started`; `container_ids` are the runtime's 64-hex ids."""
    containers = pod["spec"]["containers"]
    ids = container_ids or [""] * len(containers)
    statuses = []
    for c, cid in zip(containers, ids, strict=True):
        st = {"image": runtime_image(c["image"]), "imageID": "", "lastState": {}, "name": c["name"],
              "ready": True, "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}
        if cid:
            st["containerID"] = f"containerd://{cid}"
        statuses.append(st)
    return {"conditions": _conditions(started), "containerStatuses": statuses,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "phase": "Running",
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "qosClass": qos_class(pod["spec"]), "startTime": started}


def creating(pod: dict, host_ip: str, since: str) -> dict:
    """Scheduled, containers being created (image pull, or a sandbox whose network the CNI refused)."""
    names = [c["name"] for c in pod["spec"]["containers"]]
    not_ready = {"status": "False", "reason": "ContainersNotReady",
                 "message": f"containers with unready status: [{' '.join(names)}]"}
    return {"conditions": _conditions(since, not_ready, sandbox=False),
            "containerStatuses": [{"image": c["image"], "imageID": "", "lastState": {}, "name": c["name"],
                                   "ready": False, "restartCount": 0, "started": False,
                                   "state": {"waiting": {"reason": "ContainerCreating"}}}
                                  for c in pod["spec"]["containers"]],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "phase": "Pending", "qosClass": qos_class(pod["spec"]),
            "startTime": since}
