"""Turning what a user hands over (YAML text, a dict, a list, a path) into a list of objects."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidInput


def _yaml_error(e: yaml.YAMLError, source: str) -> InvalidInput:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"line {mark.line + 1}" if mark is not None else "an unknown line"
    err = InvalidInput(f"error parsing {source}: YAML error at {where}: {problem}")
    # the CLIs re-word it as kubectl/calicoctl do ("yaml: line 5: ...")
    err.line = mark.line + 1 if mark is not None else None
    err.problem, err.source = problem, source
    return err


def _expand(obj: Any, source: str, index: int) -> list[dict]:
    if obj is None:
        return []
    if isinstance(obj, list):
        out = []
        for item in obj:
            out += _expand(item, source, index)
        return out
    if not isinstance(obj, dict):
        raise InvalidInput(f"error validating {source}: document {index + 1} is a {type(obj).__name__}, "
                           "not an object with apiVersion and kind")
    kind = obj.get("kind")
    # `kind: List` (kubectl) and `kind: <Kind>List` (calicoctl -o yaml output) hold items
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        return _expand(obj["items"], source, index)
    missing = [f for f in ("apiVersion", "kind") if not obj.get(f)]
    if missing:
        raise InvalidInput(f"error validating {source}: document {index + 1}: "
                           f"[{', '.join(f + ' not set' for f in missing)}]")
    return [copy.deepcopy(obj)]


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and len(text) < 4096 and text.strip().endswith((".yaml", ".yml", ".json")) \
        and os.path.exists(text.strip())


def load_manifest(manifest: Any, source: str = "STDIN") -> list[dict]:
    """Objects from YAML text (several documents allowed), `kind: List`, a dict, a list, or a path.

    Malformed YAML raises InvalidInput naming the line (also in the `.line` attribute)."""
    if isinstance(manifest, Path) or (isinstance(manifest, str) and _looks_like_path(manifest)):
        path = Path(str(manifest).strip())
        try:
            text = path.read_text()
        except OSError as e:
            raise InvalidInput(f"cannot read {path}: {e.strerror}") from e
        return load_manifest(text, source=str(path))
    if isinstance(manifest, (dict, list)):
        return _expand(manifest, source, 0)
    if not isinstance(manifest, str):
        raise InvalidInput(f"a manifest is YAML text, a dict, a list or a path, not {type(manifest).__name__}")
    out: list[dict] = []
    try:
        for i, doc in enumerate(yaml.safe_load_all(manifest)):
            out += _expand(doc, source, i)
    except yaml.YAMLError as e:
        raise _yaml_error(e, source) from e
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge recursively, null deletes, anything else replaces.

    For the fields calicoctl patches (scalars and maps) this is what its strategic merge does."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result
