"""The lab's Kubernetes REST API: one request in, one response (or a stream of watch events) out.

Reads come from the datastore; writes go through the emulator's own apply/delete paths
(resources.apply_changes, delete_changes), so validation and effects (IPAM, WorkloadEndpoints)
are those of the lab's kubectl. `on_change` is called after every write (the server asks the lab
agent to reconcile the dataplane then, as the CNI and Felix would react on a cluster).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from ...errors import InvalidInput
from .. import resources as res
from ..datastore import Datastore
from ..outcomes import ApplyError
from ..selectors import k8s_label_selector
from . import catalog, events, fields, leases, openapi, patching, tables

_REASON_CODE = {"NotFound": 404, "AlreadyExists": 409, "Conflict": 409, "Invalid": 422, "BadRequest": 400,
                "Forbidden": 403, "MethodNotAllowed": 405, "NotAcceptable": 406, "UnsupportedMediaType": 415,
                "CNIError": 500, "NotEmulated": 422, "UnknownKind": 404, "InternalError": 500}


@dataclass
class Response:
    code: int
    body: Any = None                 # dict (JSON) or str (text/plain)
    content_type: str = "application/json"
    stream: Iterator[dict | str | None] | None = None  # watch events (JSON lines) or log text; None: idle
    headers: dict = field(default_factory=dict)


def status(code: int, reason: str, message: str, details: dict | None = None) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return Response(code, body)


def _wants_table(accept: str) -> bool:
    return "as=Table" in (accept or "")


# NodeSystemInfo's fields carry no omitempty: kube-apiserver's JSON always has them, "" when unknown
# (clients such as the kubernetes Python package require them)
_NODE_INFO_FIELDS = ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
                     "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture")


def _as_go_json(r: catalog.Resource, obj: dict) -> dict:
    """The stored object as kube-apiserver's JSON encoding shows it (apiVersion/kind, non-omitempty fields)."""
    obj.setdefault("apiVersion", r.api_version)
    obj.setdefault("kind", r.kind)
    if r.kind == "Node":
        info = obj.setdefault("status", {}).setdefault("nodeInfo", {})
        for f in _NODE_INFO_FIELDS:
            info.setdefault(f, "")
        # the conditions a live kubelet keeps posting: heartbeat now, transition when the node came up
        beat = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for c in obj["status"].get("conditions") or []:
            c.setdefault("lastHeartbeatTime", beat)
            c.setdefault("lastTransitionTime", obj["metadata"].get("creationTimestamp"))
    if r.kind == "Pod":
        for cs in (obj.get("status") or {}).get("containerStatuses") or []:
            cs.setdefault("lastState", {})  # ContainerStatus: lastState and imageID carry no omitempty
            cs.setdefault("imageID", "")
    return obj


_PATH = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<gv>[^/]+))"
                   r"(?:/namespaces/(?P<ns>[^/]+)(?=/))?/(?P<res>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?/?$")


class KubeAPI:
    def __init__(self, ds: Datastore, topology: Any, on_change: Callable[[], None] | None = None,
                 clock: Callable[[], datetime] | None = None, poll_s: float = 0.2):
        self.ds, self.topology = ds, topology
        self.on_change = on_change or (lambda: None)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.poll_s = poll_s

    # ------------------------------------------------------------------ entry
    def handle(self, method: str, path: str, query: str, headers: dict, body: bytes) -> Response:
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        accept = headers.get("accept", "")
        try:
            fixed = self._fixed(path, accept)
            if fixed is not None:
                return fixed if method == "GET" else status(405, "MethodNotAllowed", "the server does not allow "
                                                            "this method on the requested resource")
            m = _PATH.match(path)
            if not m:
                return status(404, "NotFound", "the server could not find the requested resource")
            group, version = (m["g"], m["gv"]) if m["g"] else ("", m["cv"])
            r = catalog.find(group, version, m["res"])
            ns, name, sub = m["ns"], m["name"], m["sub"]
            if m["res"] == "namespaces" and ns is None and name and sub:
                return status(404, "NotFound", "the server could not find the requested resource")
            if r is None:
                return status(404, "NotFound", "the server could not find the requested resource")
            if ns is not None and not r.namespaced:
                return status(404, "NotFound", "the server could not find the requested resource")
            if sub:
                return self._subresource(method, r, ns, name, sub, q, headers, body)
            return self._dispatch(method, r, ns, name, q, headers, body, accept)
        except ApplyError as e:
            return self._apply_error(e)
        except InvalidInput as e:
            return status(400, "BadRequest", str(e))

    def _fixed(self, path: str, accept: str) -> Response | None:
        path = path.rstrip("/") or "/"
        if path == "/version":
            return Response(200, dict(catalog.VERSION))
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, "ok", "text/plain")
        if path == "/api":
            return Response(200, catalog.api_versions())
        if path == "/apis":
            return Response(200, catalog.api_group_list())
        if path == "/api/v1":
            return Response(200, catalog.resource_list("", "v1"))
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "apis":
            doc = catalog.api_group(parts[2])
            return Response(200, doc) if doc else status(404, "NotFound", "the server could not find the "
                                                          "requested resource")
        if len(parts) == 4 and parts[1] == "apis":
            doc = catalog.resource_list(parts[2], parts[3])
            return Response(200, doc) if doc else status(404, "NotFound", "the server could not find the "
                                                          "requested resource")
        if path.startswith("/openapi/"):
            doc = openapi.document(path)
            return Response(200, doc) if doc is not None else status(404, "NotFound", "the server could not find "
                                                                     "the requested resource")
        return None

    # ------------------------------------------------------------------ reads
    def _objects(self, r: catalog.Resource, ns: str | None) -> list[dict]:
        out = [_as_go_json(r, o) for o in self.ds.list(r.store_kind, ns)] if catalog.stored(r) else []
        if r.kind == "Event":
            for pod in self.ds.list("Pod", ns):
                out.extend(events.pod_events(pod))
            # etcd's key order, as kube-apiserver lists: namespace, then name ("<object>.<hex UnixNano>")
            out.sort(key=lambda e: (e["metadata"]["namespace"], e["metadata"]["name"]))
        if r.kind == "Lease":
            out.extend(leases.node_leases(self.ds.list("Node"), ns, self.clock()))
        return out

    def _get(self, r: catalog.Resource, ns: str | None, name: str) -> dict | None:
        if r.kind in catalog.DERIVED:
            return next((e for e in self._objects(r, ns) if e["metadata"]["name"] == name), None)
        obj = self.ds.get(r.store_kind, name, ns) if catalog.stored(r) else None
        return _as_go_json(r, obj) if obj is not None else None

    def _not_found(self, r: catalog.Resource, name: str) -> Response:
        return status(404, "NotFound", f'{r.plural} "{name}" not found',
                      {"name": name, "group": r.group, "kind": r.plural})

    def _filtered(self, r: catalog.Resource, ns: str | None, q: dict) -> list[dict]:
        try:
            lsel = k8s_label_selector(q.get("labelSelector"))
        except InvalidInput as e:
            raise InvalidInput(f"unable to parse requirement: {e}") from None
        fsel = fields.compile_selector(q.get("fieldSelector"), r.kind, r.plural)
        return [o for o in self._objects(r, ns) if lsel(o["metadata"].get("labels") or {}) and fsel(o)]

    def _dispatch(self, method, r, ns, name, q, headers, body, accept) -> Response:
        if method == "GET" and name:
            obj = self._get(r, ns, name)
            if obj is None:
                return self._not_found(r, name)
            if _wants_table(accept):
                return Response(200, tables.table(r.kind, r.api_version, [obj], obj["metadata"].get(
                    "resourceVersion", ""), self.clock(), q.get("includeObject", "Metadata")))
            return Response(200, obj)
        if method == "GET":
            if q.get("watch") in ("true", "1"):
                return self._watch(r, ns, q, accept)
            objs = self._filtered(r, ns, q)
            rv = str(self.ds.revision())
            if _wants_table(accept):
                return Response(200, tables.table(r.kind, r.api_version, objs, rv, self.clock(),
                                                  q.get("includeObject", "Metadata")))
            return Response(200, {"kind": f"{r.kind}List", "apiVersion": r.api_version,
                                  "metadata": {"resourceVersion": rv}, "items": objs})
        if method in ("POST", "PUT", "PATCH") and not catalog.stored(r):
            return status(405, "MethodNotAllowed", f"the embedded lab derives {r.plural} from its pods and "
                          "nodes; they cannot be written")
        if method == "POST" and not name:
            return self._write(r, ns, self._body(body), "create", 201)
        if method == "PUT" and name:
            obj = self._body(body)
            if (obj.get("metadata") or {}).get("name") != name:
                return status(400, "BadRequest", "the name of the object does not match the name on the URL")
            if self._get(r, ns, name) is None:
                return self._not_found(r, name)
            return self._write(r, ns, obj, "patch", 200)
        if method == "PATCH" and name:
            if headers.get("content-type", "").startswith("application/apply-patch"):
                return status(415, "UnsupportedMediaType", "the embedded lab does not emulate server-side apply; "
                              "use kubectl apply without --server-side")
            current = self._get(r, ns, name)
            if current is None:
                return self._not_found(r, name)
            merged = patching.apply_patch(headers.get("content-type", ""), current, self._body(body, any_json=True))
            merged.setdefault("metadata", {})["name"] = name
            return self._write(r, ns, merged, "patch", 200)
        if method == "DELETE" and name:
            return self._delete(r, ns, name)
        if method == "DELETE":
            objs = self._filtered(r, ns, q)
            for o in objs:
                self._delete(r, o["metadata"].get("namespace"), o["metadata"]["name"])
            return Response(200, {"kind": f"{r.kind}List", "apiVersion": r.api_version,
                                  "metadata": {"resourceVersion": str(self.ds.revision())}, "items": objs})
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # ------------------------------------------------------------------ writes
    @staticmethod
    def _body(body: bytes, any_json: bool = False) -> Any:
        try:
            obj = json.loads(body or b"null")
        except ValueError as e:
            raise InvalidInput(f"the body of the request was in an unknown format: {e}") from None
        if not any_json and not isinstance(obj, dict):
            raise InvalidInput("the body of the request is not a JSON object")
        return obj

    def _write(self, r: catalog.Resource, ns: str | None, obj: dict, mode: str, code: int) -> Response:
        obj.setdefault("apiVersion", r.api_version)
        obj.setdefault("kind", r.kind)
        meta = obj.setdefault("metadata", {})
        if r.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                return status(400, "BadRequest", "the namespace of the provided object does not match the "
                              "namespace sent on the request")
            meta["namespace"] = ns or meta.get("namespace") or "default"
        if (obj.get("apiVersion"), obj.get("kind")) != (r.api_version, r.kind):
            return status(400, "BadRequest", f"the API version in the data ({obj.get('apiVersion')}) does not match "
                          f"the expected API version ({r.api_version})")
        res.apply_changes(self.ds, self.topology, [obj], mode=mode, only="k8s")
        self.on_change()
        stored = self._get(r, meta.get("namespace") if r.namespaced else None, meta["name"])
        return Response(code, stored)

    def _delete(self, r: catalog.Resource, ns: str | None, name: str) -> Response:
        obj = self._get(r, ns, name)
        if obj is None:
            return self._not_found(r, name)
        if not catalog.stored(r):
            return status(405, "MethodNotAllowed", f"the embedded lab derives {r.plural} from its pods")
        res.delete_changes(self.ds, self.topology, [{"apiVersion": r.api_version, "kind": r.kind,
                                                     "metadata": {"name": name, "namespace": ns}}], only="k8s")
        self.on_change()
        return Response(200, obj)

    def _apply_error(self, e: ApplyError) -> Response:
        reason = {"CNIError": "InternalError", "NotEmulated": "Invalid", "UnknownKind": "NotFound"}.get(
            e.status, e.status)
        code = _REASON_CODE.get(e.status, 422)
        causes = getattr(e, "causes", None)
        if causes:   # field errors: kubectl prints `The <Kind> "<name>" is invalid: <field>: <message>` from them
            r = next((r for r in catalog.KNOWN if r.kind == e.kind), None)
            qualified = f"{e.kind}.{r.group}" if r is not None and r.group else e.kind
            msg = e.reason.split(" is invalid: ", 1)[-1]
            return status(code, reason, f'{qualified} "{e.name}" is invalid: {msg}',
                          {"name": e.name, "group": r.group if r else "", "kind": e.kind,
                           "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})
        return status(code, reason, e.reason, {"name": e.name, "kind": e.kind.lower() + "s"})

    # ------------------------------------------------------------------ subresources
    def _subresource(self, method, r, ns, name, sub, q, headers=None, body=b"") -> Response:
        obj = self._get(r, ns, name)
        if obj is None:
            return self._not_found(r, name)
        if sub == "scale" and r.kind in ("Deployment", "ReplicaSet"):
            return self._scale(method, r, ns, obj, headers or {}, body)
        if r.kind == "Pod" and sub == "log" and method == "GET":
            try:
                text = events.container_log(obj, q.get("container"))
            except events.LogError as e:
                return status(e.code, "BadRequest", e.message)
            if q.get("timestamps") == "true" and text:  # RFC3339Nano of the line, as the kubelet prefixes it
                started = (next(iter(s for s in (obj.get("status") or {}).get("containerStatuses") or []),
                                {}).get("state") or {}).get("running", {}).get("startedAt", "")
                text = "".join(f"{started[:-1]}.000000000Z {ln}" for ln in text.splitlines(keepends=True))
            if q.get("tailLines"):
                lines = text.splitlines(keepends=True)
                text = "".join(lines[-int(q["tailLines"]):]) if int(q["tailLines"]) > 0 else ""
            if q.get("follow") == "true":
                return Response(200, None, "text/plain", stream=self._follow(r, ns, name, obj, text))
            return Response(200, text, "text/plain")
        if r.kind == "Pod" and sub == "status" and method == "GET":
            return Response(200, obj)
        if r.kind == "Pod" and sub == "exec":
            # the server answers WebSocket upgrades itself (backends/local/kubeapi_exec.py); SPDY is not served
            return status(400, "BadRequest", "the embedded lab serves exec over WebSocket (v5.channel.k8s.io, "
                          "v4.channel.k8s.io), not SPDY: use kubectl 1.30 or later")
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    def _scale_of(obj: dict) -> dict:
        """autoscaling/v1 Scale, what `kubectl scale` reads and patches."""
        m = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in m},
                "spec": {"replicas": int(obj["spec"].get("replicas", 1))},
                "status": {"replicas": int((obj.get("status") or {}).get("replicas") or 0),
                           "selector": tables.label_selector_text(obj["spec"].get("selector"))}}

    def _scale(self, method, r, ns, obj, headers, body) -> Response:
        if method == "GET":
            return Response(200, self._scale_of(obj))
        if method not in ("PATCH", "PUT"):
            return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        sent = self._body(body, any_json=method == "PATCH")
        wanted = patching.apply_patch(headers.get("content-type", ""), self._scale_of(obj), sent) \
            if method == "PATCH" else sent
        replicas = (wanted.get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            return status(422, "Invalid", f'Scale.autoscaling "{obj["metadata"]["name"]}" is invalid: spec.replicas: '
                          f"Invalid value: {replicas}: must be greater than or equal to 0")
        updated = {k: v for k, v in obj.items() if k != "status"}
        updated["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        updated["spec"] = dict(obj["spec"], replicas=replicas)
        res.apply_changes(self.ds, self.topology, [updated], mode="patch", only="k8s")
        self.on_change()
        return Response(200, self._scale_of(self._get(r, ns, obj["metadata"]["name"])))

    def _follow(self, r, ns, name, obj, text) -> Iterator[str | None]:
        """`logs -f`: the log so far, then the stream stays open until the pod goes (whoami logs no more)."""
        yield text
        uid = obj["metadata"].get("uid")
        while True:
            time.sleep(max(self.poll_s, 0.5))
            now = self._get(r, ns, name)
            if now is None or now["metadata"].get("uid") != uid:
                return
            yield None

    # ------------------------------------------------------------------ watch
    def _watch(self, r: catalog.Resource, ns: str | None, q: dict, accept: str) -> Response:
        timeout = float(q.get("timeoutSeconds") or 1800)
        since_rv = int(q["resourceVersion"]) if (q.get("resourceVersion") or "0").isdigit() and \
            q.get("resourceVersion") not in (None, "", "0") else None
        self._filtered(r, ns, q)  # refuse bad selectors before the stream starts
        as_table = _wants_table(accept)
        include = q.get("includeObject", "Metadata")

        def render(obj: dict, first: list[bool]) -> dict:
            if not as_table:
                return obj
            t = tables.table(r.kind, r.api_version, [obj], obj["metadata"].get("resourceVersion", ""), self.clock(),
                             include, with_columns=first[0])
            first[0] = False
            return t

        # the starting state is read now, not when the stream is first pulled: a write made right after
        # the watch request must show up as an event
        rev = self.ds.revision()
        initial = self._filtered(r, ns, q)

        def stream() -> Iterator[dict]:
            nonlocal rev
            deadline = time.monotonic() + timeout
            seen: dict[tuple, dict] = {}
            first = [True]
            for o in initial:
                key = (o["metadata"].get("namespace"), o["metadata"]["name"])
                seen[key] = o
                orv = int(o["metadata"].get("resourceVersion") or 0) if str(
                    o["metadata"].get("resourceVersion") or "").isdigit() else 0
                if since_rv is None:
                    yield {"type": "ADDED", "object": render(o, first)}
                elif orv > since_rv:
                    yield {"type": "MODIFIED", "object": render(o, first)}
            while time.monotonic() < deadline:
                now_rev = self.ds.revision()
                if now_rev == rev:
                    time.sleep(self.poll_s)
                    yield None  # a heartbeat: lets the server notice a closed connection
                    continue
                rev = now_rev
                current = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in self._filtered(r, ns, q)}
                for key, o in current.items():
                    old = seen.get(key)
                    if old is None:
                        yield {"type": "ADDED", "object": render(o, first)}
                    elif old["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                        yield {"type": "MODIFIED", "object": render(o, first)}
                for key, o in seen.items():
                    if key not in current:
                        yield {"type": "DELETED", "object": render(o, first)}
                seen = current

        return Response(200, None, "application/json", stream=stream())
