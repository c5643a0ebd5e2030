"""PATCH bodies as kube-apiserver applies them: JSON merge (RFC 7386), JSON patch (RFC 6902) and the
strategic merge patch `kubectl apply` sends (application/strategic-merge-patch+json).

Strategic merge is hand-written (no maintained Python implementation exists): lists of objects
with a patch merge key (k8s.io/api `patchMergeKey` struct tags) merge element by element, the
`$patch: delete|replace` directives and `$setElementOrder/<list>` / `$retainKeys` /
`$deleteFromPrimitiveList/<list>` keys are honoured, and other lists are replaced, as in
apimachinery's strategicpatch for the fields of the kinds the lab serves.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import InvalidInput

# list field name -> merge key (k8s.io/api/core/v1 types.go patchMergeKey tags)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "ports": "containerPort",
              "env": "name", "volumeMounts": "mountPath", "volumes": "name", "volumeDevices": "devicePath",
              "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "addresses": "type",
              "taints": "key", "readinessGates": "conditionType", "topologySpreadConstraints": "topologyKey",
              "ownerReferences": "uid", "finalizers": None}
# Service ports merge on "port" (ServiceSpec.Ports patchMergeKey:"port")
SERVICE_PORTS_KEY = "port"


def json_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = json_merge(out.get(k), v)
    return out


def _merge_list(field: str, cur: list, patch: list, key: str | None) -> list:
    if key is None or not all(isinstance(x, dict) for x in cur + patch):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        if field == "finalizers":  # a set of strings: merged
            return cur + [x for x in patch if x not in cur]
        return copy.deepcopy(patch)
    if any(x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if "$patch" not in x]
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        k = item.get(key)
        idx = next((i for i, x in enumerate(out) if x.get(key) == k), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item, field))
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


def _order(items: list, order: list, key: str | None) -> list:
    if key is None:
        return items
    wanted = [o.get(key) if isinstance(o, dict) else o for o in order]
    pos = {k: i for i, k in enumerate(wanted)}
    return sorted(items, key=lambda x: pos.get(x.get(key) if isinstance(x, dict) else x, len(pos)))


def strategic_merge(target: Any, patch: Any, parent: str = "") -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            key = SERVICE_PORTS_KEY if (k == "ports" and parent == "spec") else MERGE_KEYS.get(k, "")
            cur = out.get(k) if isinstance(out.get(k), list) else []
            out[k] = _merge_list(k, cur, v, key) if key != "" else copy.deepcopy(
                [x for x in v if not (isinstance(x, dict) and "$patch" in x)])
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = v
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            key = SERVICE_PORTS_KEY if (field == "ports" and parent == "spec") else MERGE_KEYS.get(field)
            out[field] = _order(out[field], order or [], key)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise InvalidInput(f"the JSON pointer {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise InvalidInput("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)

    def parent_of(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        try:
            kind, parts = op["op"], _pointer(op["path"])
            if kind in ("add", "replace"):
                par, last = parent_of(parts), parts[-1]
                if isinstance(par, list):
                    if kind == "add":
                        par.insert(len(par) if last == "-" else int(last), copy.deepcopy(op["value"]))
                    else:
                        par[int(last)] = copy.deepcopy(op["value"])
                else:
                    if kind == "replace" and last not in par:
                        raise KeyError(last)
                    par[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                par, last = parent_of(parts), parts[-1]
                del par[int(last) if isinstance(par, list) else last]
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = copy.deepcopy(get(src))
                if kind == "move":
                    sp = parent_of(src)
                    del sp[int(src[-1]) if isinstance(sp, list) else src[-1]]
                par, last = parent_of(parts), parts[-1]
                if isinstance(par, list):
                    par.insert(len(par) if last == "-" else int(last), value)
                else:
                    par[last] = value
            elif kind == "test":
                if get(parts) != op.get("value"):
                    raise InvalidInput(f"testing value {op['path']} failed")
            else:
                raise InvalidInput(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise InvalidInput(f"the server rejected our request due to an error in our request: {op!r}: {e}") \
                from None
    return doc


def apply_patch(content_type: str, current: dict, body: Any) -> dict:
    ct = content_type.split(";", 1)[0].strip()
    if ct == "application/strategic-merge-patch+json":
        return strategic_merge(current, body)
    if ct == "application/merge-patch+json":
        return json_merge(current, body)
    if ct == "application/json-patch+json":
        return json_patch(current, body)
    raise InvalidInput(f"the lab's API server does not take {ct or 'this'} patches (server-side apply is not "
                       "emulated; use kubectl apply without --server-side)")
