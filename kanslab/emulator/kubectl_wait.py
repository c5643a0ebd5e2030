"""`kubectl wait --for=condition=Ready pod/NAME ... | pod -l SELECTOR | pod --all [-n NS] [--timeout=30s]`
(pods and nodes), printing what kubectl v1.30 prints.

kubectl's wait (k8s.io/kubectl/pkg/cmd/wait) prints `<resource>/<name> condition met` for each object
as its condition holds, fails with `error: timed out waiting for the condition on pods/NAME` (the
apimachinery ErrWaitTimeout text extended with the object) and `error: no matching resources found`
when a selector selects nothing; --timeout defaults to 30s, 0 checks once."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .argv import Args
from .selectors import k8s_label_selector

if TYPE_CHECKING:
    from .cli_context import CliContext

Result = tuple[int, str, str]
KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod", "node": "Node", "nodes": "Node", "no": "Node"}
RESOURCE = {"Pod": "pods", "Node": "nodes"}
SINGULAR = {"Pod": "pod", "Node": "node"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
POLL_S = 0.05  # how often the datastore's revision is looked at while waiting


def parse_duration(text: str) -> float | None:
    """Go's time.ParseDuration for what kubectl users write (30s, 2m, 1m30s, 500ms, 0); None if not."""
    text = text.strip()
    if text in ("0", "-0"):
        return 0.0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sign * sum(float(n) * scale[u] for n, u in parts)


def _condition_met(obj: dict, condition: str, want: str) -> bool:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type", "").lower() == condition.lower():
            return str(c.get("status", "")).lower() == want.lower()
    return False


def cmd_wait(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"--for": "for", "-n": "namespace", "--namespace": "namespace", "-l": "selector",
                    "--selector": "selector", "--timeout": "timeout"},
             {"--all": "all", "-A": "all_ns", "--all-namespaces": "all_ns"}, bool_switches=True)
    if a.bad:
        return 1, "", f"error: the embedded lab's kubectl wait does not emulate the flag {a.bad!r}\n"
    spec = str(a.opts.get("for", ""))
    m = re.fullmatch(r"condition=([A-Za-z]+)(?:=(\w+))?", spec)
    if not spec:
        return 1, "", "error: --for must be set\n"
    if m is None:
        return 1, "", (f"error: the embedded lab's kubectl wait supports --for=condition=NAME only, not "
                       f"--for={spec}\n")
    condition, want = m.group(1), m.group(2) or "true"
    timeout = parse_duration(str(a.opts.get("timeout", "30s")))
    if timeout is None:
        return 1, "", f'error: invalid argument "{a.opts["timeout"]}" for "--timeout" flag: time: invalid duration\n'
    if timeout < 0:
        timeout = 7 * 24 * 3600.0  # kubectl: negative means a week
    ns = str(a.opts.get("namespace") or "default")
    targets: list[tuple[str, str]] = []  # (kind, name)
    kind = None
    for word in a.pos:
        if "/" in word:
            k, _, name = word.partition("/")
            if KINDS.get(k.lower()) is None:
                return 1, "", f'error: the server doesn\'t have a resource type "{k}"\n'
            targets.append((KINDS[k.lower()], name))
        elif kind is None and KINDS.get(word.lower()):
            kind = KINDS[word.lower()]
        elif kind is not None:
            targets.append((kind, word))
        else:
            return 1, "", f'error: the server doesn\'t have a resource type "{word}"\n'
    if kind is not None and not targets:
        if "selector" not in a.opts and not a.opts.get("all"):
            return 1, "", "error: resource(s) were provided, but no name was specified\n"
        try:
            sel = k8s_label_selector(str(a.opts["selector"])) if "selector" in a.opts else (lambda labels: True)
        except ValueError as e:
            return 1, "", f"error: {e}\n"
        objs = ctx.ds.list(kind, None if kind != "Pod" else ns)
        targets = [(kind, o["metadata"]["name"]) for o in objs if sel(o["metadata"].get("labels") or {})]
        if not targets:
            return 1, "", "error: no matching resources found\n"
    if not targets:
        return 1, "", "error: you must specify resources by --filename when no resource is given\n"
    for k, name in targets:
        if ctx.ds.get(k, name, ns if k == "Pod" else None) is None:
            return 1, "", f'Error from server (NotFound): {RESOURCE[k]} "{name}" not found\n'
    deadline = time.monotonic() + timeout
    out = []
    for k, name in targets:  # one after the other, as kubectl visits them
        seen_rev = None
        while True:
            rev = ctx.ds.revision()
            if rev != seen_rev:
                seen_rev = rev
                obj = ctx.ds.get(k, name, ns if k == "Pod" else None)
                if obj is None:
                    return 1, "".join(out), f'Error from server (NotFound): {RESOURCE[k]} "{name}" not found\n'
                if _condition_met(obj, condition, want):
                    out.append(f"{SINGULAR[k]}/{name} condition met\n")
                    break
            if time.monotonic() >= deadline:
                return 1, "".join(out), f"error: timed out waiting for the condition on {RESOURCE[k]}/{name}\n"
            time.sleep(POLL_S)
    return 0, "".join(out), ""
