"""Field selectors (`?fieldSelector=spec.nodeName=k8s-w1,status.phase!=Failed`), as kube-apiserver reads them.

Grammar (k8s.io/apimachinery/pkg/fields/selector.go): requirements joined by ',', each `key=value`,
`key==value` or `key!=value`; '\\' escapes ',', '=', '!' and '\\' in values. Each resource
supports only some fields (its registry's GetAttrs / AddFieldLabelConversionFunc); any other field
is refused with the API server's message. Hand-written: no maintained Python library parses them.
"""

from __future__ import annotations

from collections.abc import Callable

from ...errors import InvalidInput

# fields each kind can be selected by, besides metadata.name and metadata.namespace
# (pkg/registry/core/pod/strategy.go PodToSelectableFields, core/v1 conversion.go, event strategy.go)
SELECTABLE = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "Secret": ("type",),
    "Service": (),
}


def _split(expr: str, seps: str) -> list[str]:
    """Split on unescaped separators (each char of `seps` separates), keeping escapes."""
    parts, cur, i = [], "", 0
    while i < len(expr):
        ch = expr[i]
        if ch == "\\" and i + 1 < len(expr):
            cur += expr[i:i + 2]
            i += 2
            continue
        if ch in seps:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _unescape(s: str) -> str:
    out, i = "", 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out += s[i + 1]
            i += 2
        else:
            out += s[i]
            i += 1
    return out


def parse(expr: str | None) -> list[tuple[str, str, str]]:
    """[(field, op, value)] with op "=" or "!="; raises InvalidInput on text that is no field selector."""
    if not expr:
        return []
    reqs = []
    for part in _split(expr, ","):
        if not part:
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(part, op)
            if idx >= 0:
                key, value = part[:idx], part[idx + len(op):]
                reqs.append((key.strip(), "!=" if op == "!=" else "=", _unescape(value)))
                break
        else:
            raise InvalidInput(f"invalid selector: '{expr}'; can't understand '{part}'")
    return reqs


def _find_unescaped(s: str, token: str) -> int:
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s.startswith(token, i):
            return i
        i += 1
    return -1


def _value(obj: dict, path: str) -> str:
    if path == "source":  # the event's source.component (event strategy.go)
        return str((obj.get("source") or {}).get("component") or "")
    if path == "status.podIPs":
        return ",".join(p.get("ip", "") for p in (obj.get("status") or {}).get("podIPs") or [])
    cur: object = obj
    for key in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(key)
    if cur is None:
        if path == "spec.hostNetwork" or path == "spec.unschedulable":
            return "false"
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def compile_selector(expr: str | None, kind: str, plural: str) -> Callable[[dict], bool]:
    """A predicate on objects; raises InvalidInput with kube-apiserver's words for unsupported fields."""
    reqs = parse(expr)
    allowed = ("metadata.name", "metadata.namespace") + SELECTABLE.get(kind, ())
    for key, _, _ in reqs:
        if key not in allowed:
            raise InvalidInput(f'field label not supported: {key}')
    def match(obj: dict) -> bool:
        for key, op, value in reqs:
            got = _value(obj, key)
            if (got == value) != (op == "="):
                return False
        return True
    return match


def names_in(expr: str | None) -> str | None:
    """The name a `metadata.name=X` requirement pins (kubectl get NAME -w, wait and delete use it)."""
    for key, op, value in parse(expr):
        if key == "metadata.name" and op == "=":
            return value
    return None
