"""Restoring one owner's iptables chains without touching anyone else's (`iptables-restore --noflush`).

Felix and kube-proxy share every table on a node. Each writes only the chains it owns (cali-*,
KUBE-*): with --noflush, a `:chain` line flushes just that chain, chains it no longer wants are
flushed and deleted (`-X`), and its jumps from the built-in chains are managed rule by rule, as
both daemons do it (Felix's Table keeps its jumps at the top of a built-in chain and its trailing
rules at the end; kube-proxy's EnsureRule adds a missing jump). Text parsing here is of
iptables-save output only, which has one rule per line in a fixed form.
"""

from __future__ import annotations

import re

from .netns import in_netns, run

BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
_JUMP = re.compile(r"\s-[jg]\s+(\S+)")


def save(ns: str) -> dict[str, list[str]]:
    """iptables-save of a namespace: {table: its chain and rule lines}."""
    text = run([*in_netns(ns), "iptables-save"]).stdout
    tables: dict[str, list[str]] = {}
    current = None
    for ln in text.splitlines():
        if ln.startswith("*"):
            current = tables.setdefault(ln[1:].strip(), [])
        elif current is not None and (ln.startswith(":") or ln.startswith("-A ")):
            current.append(ln)
    return tables


def split_table(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(declared chains, {builtin chain: its rules as `-A` lines}) of one table's save lines."""
    chains = [ln[1:].split()[0] for ln in lines if ln.startswith(":")]
    hooks: dict[str, list[str]] = {}
    for ln in lines:
        if ln.startswith("-A "):
            chain = ln.split()[1]
            if chain in BUILTIN:
                hooks.setdefault(chain, []).append(ln)
    return chains, hooks


def _target(rule: str) -> str:
    m = _JUMP.search(rule)
    return m.group(1) if m else ""


def restore_text(current: dict[str, list[str]], wanted: dict[str, list[str]], prefix: str,
                 marker: str, leading: bool) -> str:
    """The `--noflush` restore that makes the chains named `prefix*` and the built-in rules carrying
    `marker` (a comment text, or the jump target prefix) exactly what `wanted` says.

    `wanted`: {table: lines}, with `:chain - [0:0]` declarations, `-A owned-chain ...` rules and
    `-A BUILTIN ...` rules. `leading`: Felix's way (its built-in rules that jump to its own chains go to
    the top, the others to the end); otherwise kube-proxy's (its jumps go right after any leading
    jumps of the other owner, the place EnsureRule's prepend leaves them once Felix has re-asserted
    the top)."""
    out = []
    for table in sorted(set(current) | set(wanted)):
        lines = wanted.get(table, [])
        have_chains, have_hooks = split_table(current.get(table, []))
        want_chains = [ln[1:].split()[0] for ln in lines if ln.startswith(":") and ln[1:].split()[0] not in BUILTIN]
        stale = [c for c in have_chains if c.startswith(prefix) and c not in want_chains]
        if not lines and not stale and not any(marker in r for rs in have_hooks.values() for r in rs):
            continue
        body = [f"*{table}"] + [f":{c} - [0:0]" for c in want_chains + stale]
        want_hooks: dict[str, list[str]] = {}
        for ln in lines:
            if ln.startswith("-A ") and ln.split()[1] in BUILTIN:
                want_hooks.setdefault(ln.split()[1], []).append(ln)
        for hook in sorted(set(have_hooks) | set(want_hooks)):
            mine = [r for r in have_hooks.get(hook, []) if marker in r]
            others = [r for r in have_hooks.get(hook, []) if marker not in r]
            wanted_here = want_hooks.get(hook, [])
            if _same_rules(mine, wanted_here):
                continue
            body += ["-D" + r[2:] for r in mine]
            if leading:
                top = [r for r in wanted_here if _target(r).startswith(prefix)]
                rest = [r for r in wanted_here if r not in top]
                body += [f"-I {hook} {i + 1}{r[2 + len(hook) + 1:]}" for i, r in enumerate(top)]
                body += rest
            else:
                pos = 1
                while pos <= len(others) and _leading_other(others[pos - 1]):
                    pos += 1
                body += [f"-I {hook} {pos + i}{r[2 + len(hook) + 1:]}" for i, r in enumerate(wanted_here)]
        body += [ln for ln in lines if ln.startswith("-A ") and ln.split()[1] not in BUILTIN]
        body += [f"-X {c}" for c in stale]
        out += body + ["COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def _leading_other(rule: str) -> bool:
    """A jump of the other owner at the top of a built-in chain (Felix's `-j cali-...`)."""
    return _target(rule).startswith("cali-")


def _norm(rule: str) -> str:
    # iptables-save quotes comments and adds /32; compare targets and comments only
    comment = re.search(r'--comment\s+("[^"]*"|\S+)', rule)
    return f"{_target(rule)}|{comment.group(1).strip(chr(34)) if comment else ''}"


def _same_rules(have: list[str], want: list[str]) -> bool:
    return [_norm(r) for r in have] == [_norm(r) for r in want]


def restore(ns: str, wanted: dict[str, list[str]], prefix: str, marker: str, leading: bool) -> bool:
    """Apply `wanted` with --noflush; False when the node already had it."""
    text = restore_text(save(ns), wanted, prefix, marker, leading)
    if not text:
        return False
    run([*in_netns(ns), "iptables-restore", "--noflush"], input=text)
    return True


def tables_of(restore_input: str) -> dict[str, list[str]]:
    """A full iptables-restore text ("*table ... COMMIT") as {table: lines}."""
    out: dict[str, list[str]] = {}
    current = None
    for ln in restore_input.splitlines():
        if ln.startswith("*"):
            current = out.setdefault(ln[1:].strip(), [])
        elif ln.strip() == "COMMIT":
            current = None
        elif current is not None and ln.strip():
            current.append(ln)
    return out
