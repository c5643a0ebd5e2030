"""The subset of kubectl's JSONPath that course material uses, hand-written.

Why not a library: kubectl's dialect is not standard JSONPath (templates mixing text and `{...}`,
`{range}`/`{end}`, results joined by spaces, missing keys printing nothing), and the common
Python packages implement RFC-style JSONPath, so an adapter would be as long as this.

Supported: `{.a.b}`, `{.items[*].spec.podCIDR}`, `[n]`, `[-1]`, `[*]`, `['key.with.dots']`,
`{.key\\.with\\.dots}`, filters `[?(@.type=="InternalIP")]` (== and !=), `{range .items[*]}...{end}`, string literals
`{"\\n"}`, and plain text between expressions. Maps and lists print as compact JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import InvalidInput

_STEP = re.compile(r"""
    \.(?P<key>(?:[A-Za-z0-9_\-$/]|\\.)+)
  | \[(?P<idx>-?\d+)\]
  | \[(?P<star>\*)\]
  | \.(?P<dotstar>\*)
  | \[['"](?P<qkey>[^'"]+)['"]\]
  | \[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*(?P<fop>==|!=)\s*(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\)\]
""", re.VERBOSE)


def _fail(template: str, why: str) -> InvalidInput:
    return InvalidInput(f'error: error parsing jsonpath {template}, {why}')


def _split(template: str) -> list[tuple[str, str]]:
    """[("text", s) | ("expr", s)] from a template."""
    parts, i = [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            parts.append(("text", template[i:]))
            break
        if j > i:
            parts.append(("text", template[i:j]))
        k, quote = j + 1, None
        while k < len(template):
            ch = template[k]
            if quote:
                if ch == "\\":
                    k += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "}":
                break
            k += 1
        if k >= len(template):
            raise _fail(template, "unclosed action")
        parts.append(("expr", template[j + 1:k].strip()))
        i = k + 1
    return parts


def _steps(path: str, template: str) -> list[re.Match]:
    if path in ("", ".", "@", "$"):
        return []
    if path.startswith(("@", "$")):
        path = path[1:]
    out, pos = [], 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise _fail(template, f"unrecognized character in action: {path[pos:]!r}")
        out.append(m)
        pos = m.end()
    return out


def _walk(values: list[Any], steps: list[re.Match]) -> list[Any]:
    for m in steps:
        nxt = []
        for v in values:
            if m.group("key") is not None or m.group("qkey") is not None:
                # client-go's parseField: a backslash escapes the next character, then backslashes go
                # (`{.data.prometheus\.yml}` is the key "prometheus.yml")
                key = (m.group("key") or "").replace("\\", "") or m.group("qkey")
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif m.group("idx") is not None:
                i = int(m.group("idx"))
                if isinstance(v, list) and -len(v) <= i < len(v):
                    nxt.append(v[i])
            elif m.group("star") or m.group("dotstar"):
                if isinstance(v, list):
                    nxt.extend(v)
                elif isinstance(v, dict):
                    nxt.extend(v.values())
            else:
                key, op, want = m.group("fkey"), m.group("fop"), m.group("fval").strip("'\"")
                for item in v if isinstance(v, list) else [v]:
                    got: Any = item
                    for part in key.split("."):
                        got = got.get(part) if isinstance(got, dict) else None
                    if (str(got) == want if got is not None else False) == (op == "=="):
                        nxt.append(item)
        values = nxt
    return values


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if v is None:
        return ""
    return str(v)


def _literal(expr: str) -> str | None:
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "\"'":
        return bytes(expr[1:-1], "utf-8").decode("unicode_escape")
    return None


def render(template: str, data: Any) -> str:
    """Evaluate a kubectl JSONPath template against data (missing keys print nothing, as kubectl get)."""
    parts = _split(template)
    out, _ = _run(parts, 0, data, template, top=True)
    return out


def _run(parts: list[tuple[str, str]], i: int, current: Any, template: str, top: bool) -> tuple[str, int]:
    out = ""
    while i < len(parts):
        kind, s = parts[i]
        if kind == "text":
            out += s
            i += 1
            continue
        if s == "end":
            if top:
                raise _fail(template, "not in range, nothing to end")
            return out, i + 1
        if s.startswith("range "):
            items = _walk([current], _steps(s[6:].strip(), template))
            body_end = None
            for item in items:
                text, body_end = _run(parts, i + 1, item, template, top=False)
                out += text
            if body_end is None:  # no items: still skip the body
                _, body_end = _run(parts, i + 1, {}, template, top=False)
            i = body_end
            continue
        lit = _literal(s)
        if lit is not None:
            out += lit
        else:
            out += " ".join(_text(v) for v in _walk([current], _steps(s, template)))
        i += 1
    if not top:
        raise _fail(template, "range without end")
    return out, i
