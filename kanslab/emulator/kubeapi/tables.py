"""Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) for `kubectl get`.

The cells are kube-apiserver's printers' (pkg/printers/internalversion/printers.go, v1.30):
the server always renders the wide cells, and kubectl hides the columns of priority 1 unless
`-o wide`. Ages are duration.HumanDuration of now - creationTimestamp, as kubectl shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ..text_tables import human_duration

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. Name "
             "is primarily intended for creation idempotence and configuration definition. Cannot be updated. "
             "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
            "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
            "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
            "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
            "#metadata")


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "", doc: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": doc, "priority": priority}


NAME, AGE = _col("Name", fmt="name", doc=_NAME_DOC), _col("Age", doc=_AGE_DOC)

_ROLE_BINDING_COLUMNS = [
    NAME, _col("Role", doc="RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
                          "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error."),
    AGE, _col("Users", priority=1, doc="Users in the roleBinding"),
    _col("Groups", priority=1, doc="Groups in the roleBinding"),
    _col("ServiceAccounts", priority=1, doc="ServiceAccounts in the roleBinding")]

COLUMNS = {
    "Pod": [NAME, _col("Ready", doc="The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", doc="The aggregate status of the containers in this pod."),
            _col("Restarts", doc="The number of times the containers in this pod have been restarted and when the "
                                 "last container in this pod has restarted."),
            AGE, _col("IP", priority=1, doc="podIP address allocated to the pod."),
            _col("Node", priority=1, doc="NodeName indicates in which node this pod is scheduled."),
            _col("Nominated Node", priority=1, doc="nominatedNodeName is set only when this pod preempts other pods."),
            _col("Readiness Gates", priority=1, doc="If specified, all readiness gates will be evaluated for pod "
                                                    "readiness.")],
    "Node": [NAME, _col("Status", doc="The status of the node"), _col("Roles", doc="The roles of the node"), AGE,
             _col("Version", doc="Kubelet Version reported by the node."),
             _col("Internal-IP", priority=1, doc="List of addresses reachable to the node."),
             _col("External-IP", priority=1, doc="List of addresses reachable to the node."),
             _col("OS-Image", priority=1, doc="OS Image reported by the node from /etc/os-release."),
             _col("Kernel-Version", priority=1, doc="Kernel Version reported by the node."),
             _col("Container-Runtime", priority=1, doc="ContainerRuntime Version reported by the node.")],
    "Namespace": [NAME, _col("Status", doc="The status of the namespace"), AGE],
    "Lease": [NAME, _col("Holder", doc="holderIdentity contains the identity of the holder of a current lease."),
              AGE],
    "Event": [_col("Last Seen", doc="The time at which the most recent occurrence of this event was recorded."),
              _col("Type", doc="Type of this event (Normal, Warning), new types could be added in the future"),
              _col("Reason", doc="This should be a short, machine understandable string that gives the reason for "
                                 "the transition into the object's current status."),
              _col("Object", doc="The object that this event is about."),
              _col("Subobject", priority=1, doc="If referring to a piece of an object instead of an entire object, "
                                                "this string should contain a valid JSON/Go field access statement."),
              _col("Source", priority=1, doc="The component reporting this event."),
              _col("Message", doc="A human-readable description of the status of this operation."),
              _col("First Seen", priority=1, doc="The time at which the event was first recorded."),
              _col("Count", priority=1, doc="The number of times this event has occurred."),
              _col("Name", priority=1, fmt="name", doc=_NAME_DOC)],
    "NetworkPolicy": [NAME, _col("Pod-Selector", doc="Selects the pods to which this NetworkPolicy object "
                                                      "applies."), AGE],
    "Service": [NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                _col("Selector", priority=1)],
    "Endpoints": [NAME, _col("Endpoints"), AGE],
    "EndpointSlice": [NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE],
    "ConfigMap": [NAME, _col("Data"), AGE],
    "Secret": [NAME, _col("Type"), _col("Data"), AGE],
    "ServiceAccount": [NAME, _col("Secrets"), AGE],
    # printers.go roleBindingsColumnDefinitions (ClusterRoleBinding shares them); Role and ClusterRole have no
    # printer, so they get the default Name/Created At table
    "RoleBinding": _ROLE_BINDING_COLUMNS, "ClusterRoleBinding": _ROLE_BINDING_COLUMNS,
    "DaemonSet": [NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                  _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"), AGE,
                  _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
    "Deployment": [NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                   _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
    "ReplicaSet": [NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE,
                   _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
}


def parse_time(ts: str | None) -> datetime | None:
    if not ts:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(ts, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def since(ts: str | None, now: datetime) -> str:
    """translateTimestampSince: "<unknown>" for a zero time."""
    t = parse_time(ts)
    return "<unknown>" if t is None else human_duration((now - t).total_seconds())


def label_selector_text(sel: dict | None) -> str:
    """metav1.FormatLabelSelector: "<none>" for an empty selector."""
    sel = sel or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{e['key']} {op.lower()} ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append(f"!{e['key']}")
    return ",".join(parts) or "<none>"


def _map_text(m: dict | None) -> str:
    """labels.FormatLabels: k=v sorted by key, "<none>" when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or "<none>"


def _pod_cells(o: dict, now: datetime) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    total = len(spec.get("containers") or [])
    reason = st.get("reason") or st.get("phase") or ""
    ready = restarts = 0
    for c in reversed(st.get("containerStatuses") or []):
        restarts += int(c.get("restartCount") or 0)
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}"
        elif c.get("ready") and "running" in state:
            ready += 1
    if (o.get("metadata") or {}).get("deletionTimestamp") and st.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    ips = st.get("podIPs") or []
    gates = spec.get("readinessGates") or []
    gate_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        gate_text = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [o["metadata"]["name"], f"{ready}/{total}", reason, str(restarts), since(o["metadata"].get(
        "creationTimestamp"), now), (ips[0].get("ip") if ips else "") or "<none>", spec.get("nodeName") or "<none>",
        st.get("nominatedNodeName") or "<none>", gate_text]


def _node_cells(o: dict, now: datetime) -> list:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if spec.get("unschedulable"):
        status.append("SchedulingDisabled")
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = sorted({k[len("node-role.kubernetes.io/"):] for k in labels
                    if k.startswith("node-role.kubernetes.io/") and len(k) > len("node-role.kubernetes.io/")}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    info = st.get("nodeInfo") or {}
    addr = {a.get("type"): a.get("address") for a in reversed(st.get("addresses") or [])}
    return [o["metadata"]["name"], ",".join(status), ",".join(roles) or "<none>",
            since(o["metadata"].get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            addr.get("InternalIP") or "<none>", addr.get("ExternalIP") or "<none>",
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def event_source(o: dict) -> str:
    """formatEventSource: component[, host], else the reporting controller[, instance]."""
    src = o.get("source") or {}
    comp, host = src.get("component") or "", src.get("host") or ""
    if not comp:
        comp, host = o.get("reportingComponent") or "", o.get("reportingInstance") or ""
    return f"{comp}, {host}" if host else comp


def _event_cells(o: dict, now: datetime) -> list:
    first = since(o.get("firstTimestamp"), now) if o.get("firstTimestamp") else since(o.get("eventTime"), now)
    last = since(o.get("lastTimestamp"), now) if o.get("lastTimestamp") else first
    count = o.get("count") or 1
    if o.get("series"):
        last, count = since(o["series"].get("lastObservedTime"), now), o["series"].get("count") or count
    inv = o.get("involvedObject") or {}
    target = f"{(inv.get('kind') or '').lower()}/{inv['name']}" if inv.get("name") else (inv.get("kind") or "").lower()
    return [last, o.get("type", ""), o.get("reason", ""), target, inv.get("fieldPath", ""), event_source(o),
            (o.get("message") or "").strip(), first, int(count), o["metadata"]["name"]]


def _ports_text(ports: list) -> str:
    out = []
    for p in ports or []:
        s = f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort"):
            s = f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        out.append(s)
    return ",".join(out) or "<none>"


def _service_cells(o: dict, now: datetime) -> list:
    spec = o.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    ext = ",".join(spec.get("externalIPs") or []) or ("<pending>" if typ == "LoadBalancer" else "<none>")
    if typ == "ExternalName":
        ext = spec.get("externalName", "")
    return [o["metadata"]["name"], typ, spec.get("clusterIP") or "<none>", ext, _ports_text(spec.get("ports")),
            since(o["metadata"].get("creationTimestamp"), now), _map_text(spec.get("selector"))]


def _endpoints_text(pairs: list[str]) -> str:
    """formatEndpoints: at most three, then " + N more..."."""
    if not pairs:
        return "<none>"
    shown = ",".join(pairs[:3])
    return shown + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _endpoints_cells(o: dict, now: datetime) -> list:
    pairs = []
    for s in o.get("subsets") or []:
        for p in s.get("ports") or [{}]:
            for a in s.get("addresses") or []:
                pairs.append(f"{a['ip']}:{p['port']}" if p.get("port") else a["ip"])
    return [o["metadata"]["name"], _endpoints_text(pairs), since(o["metadata"].get("creationTimestamp"), now)]


def _slice_cells(o: dict, now: datetime) -> list:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    return [o["metadata"]["name"], o.get("addressType", ""), ports, _endpoints_text(addrs) if addrs else "<unset>",
            since(o["metadata"].get("creationTimestamp"), now)]


def _containers(template_spec: dict) -> tuple[str, str]:
    cs = template_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _workload_cells(kind: str, o: dict, now: datetime) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    tspec = ((spec.get("template") or {}).get("spec")) or {}
    names, images = _containers(tspec)
    age = since(o["metadata"].get("creationTimestamp"), now)
    sel = label_selector_text(spec.get("selector"))
    if kind == "DaemonSet":
        return [o["metadata"]["name"], int(st.get("desiredNumberScheduled") or 0),
                int(st.get("currentNumberScheduled") or 0), int(st.get("numberReady") or 0),
                int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0),
                _map_text(tspec.get("nodeSelector")), age, names, images, sel]
    if kind == "Deployment":
        return [o["metadata"]["name"], f"{int(st.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1))}",
                int(st.get("updatedReplicas") or 0), int(st.get("availableReplicas") or 0), age, names, images, sel]
    return [o["metadata"]["name"], int(spec.get("replicas", 1)), int(st.get("replicas") or 0),
            int(st.get("readyReplicas") or 0), age, names, images, sel]


def _binding_cells(o: dict, now: datetime) -> list:
    """printRoleBinding: roleRef as Kind/Name; subjects split as rbac.SubjectsStrings does, joined by ", "."""
    ref = o.get("roleRef") or {}
    users, groups, sas = [], [], []
    for s in o.get("subjects") or []:
        if s.get("kind") == "User":
            users.append(s.get("name", ""))
        elif s.get("kind") == "Group":
            groups.append(s.get("name", ""))
        elif s.get("kind") == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
    return [o["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}",
            since(o["metadata"].get("creationTimestamp"), now), ", ".join(users), ", ".join(groups), ", ".join(sas)]


def cells(kind: str, o: dict, now: datetime) -> list:
    age = lambda: since(o["metadata"].get("creationTimestamp"), now)  # noqa: E731
    simple: dict[str, Callable[[], list]] = {
        "Namespace": lambda: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), age()],
        "NetworkPolicy": lambda: [o["metadata"]["name"],
                                  label_selector_text((o.get("spec") or {}).get("podSelector")), age()],
        "ConfigMap": lambda: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              age()],
        "Secret": lambda: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), age()],
        "ServiceAccount": lambda: [o["metadata"]["name"], len(o.get("secrets") or []), age()],
        "Lease": lambda: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""), age()],
    }
    if kind in simple:
        return simple[kind]()
    if kind in ("DaemonSet", "Deployment", "ReplicaSet"):
        return _workload_cells(kind, o, now)
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return _binding_cells(o, now)
    return {"Pod": _pod_cells, "Node": _node_cells, "Event": _event_cells, "Service": _service_cells,
            "Endpoints": _endpoints_cells, "EndpointSlice": _slice_cells}[kind](o, now)


def _partial(o: dict, api_version: str, kind: str, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return o
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata") or {}}


def table(kind: str, api_version: str, objs: list[dict], resource_version: str, now: datetime | None = None,
          include: str = "Metadata", with_columns: bool = True) -> dict:
    """The meta.k8s.io/v1 Table of `objs`; kinds without a printer get the default Name/Created At table."""
    now = now or datetime.now(timezone.utc)
    if kind in COLUMNS:
        cols = COLUMNS[kind]
        rows = [cells(kind, o, now) for o in objs]
    else:  # rest.DefaultTableConvertor
        cols = [NAME, _col("Created At", "date", doc=_AGE_DOC)]
        rows = [[o["metadata"]["name"], o["metadata"].get("creationTimestamp")] for o in objs]
    out: dict = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version}}
    if with_columns:
        out["columnDefinitions"] = cols
    out["rows"] = []
    for o, r in zip(objs, rows, strict=True):
        row: dict = {"cells": r}
        obj = _partial(o, api_version, kind, include)
        if obj is not None:
            row["object"] = obj
        out["rows"].append(row)
    return out
