"""Which lab hosts there are and how to reach them: `Endpoint`, and ssh-config parsing.

`parse_ssh_config` reads the format `vagrant ssh-config` prints (and the lab's own
`/run/kanslab/<prefix>/ssh_config`). Hand-written because paramiko's SSHConfig resolves one
host at a time and has no notion of the literal `Host` names a file defines, which is what a lab
inventory is; ssh_config(5)'s first-match-wins and accumulating options are kept.
"""

from __future__ import annotations

import fnmatch
import getpass
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import InvalidInput


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one lab host."""

    name: str
    hostname: str
    port: int = 22
    user: str = "root"
    identity_files: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    strict: str = "ask"            # StrictHostKeyChecking: yes | ask | accept-new | no
    host_key: str | None = None    # a pinned "type base64" key (hosts YAML)
    identities_only: bool = False
    role: str | None = None

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


_LIST_OPTIONS = {"identityfile", "userknownhostsfile"}  # accumulate over blocks (ssh_config(5))
_UNSUPPORTED = {"proxycommand", "proxyjump"}


def _host_matches(patterns: list[str], name: str) -> bool:
    matched = False
    for p in patterns:
        if p.startswith("!"):
            if fnmatch.fnmatchcase(name, p[1:]):
                return False
        elif fnmatch.fnmatchcase(name, p):
            matched = True
    return matched


def _expand(path: str, base: Path | None) -> str:
    p = os.path.expanduser(path)
    if base is not None and p != "/dev/null" and not os.path.isabs(p):
        p = str(base / p)
    return p


def parse_ssh_config(text: str, base_dir: str | Path | None = None, source: str = "ssh-config") -> dict[str, Endpoint]:
    """Endpoints for every literal `Host` name in an ssh-config (the format `vagrant ssh-config` prints).

    Options apply first-match-wins across matching blocks (`Host *` included), IdentityFile and
    UserKnownHostsFile accumulate, values may be quoted, `Key=value` is accepted. Match blocks
    are skipped; ProxyCommand/ProxyJump are refused (not supported)."""
    base = Path(base_dir) if base_dir is not None else None
    blocks: list[tuple[list[str], list[tuple[str, list[str], int]]]] = [(["*"], [])]  # options before any Host
    current: list | None = blocks[0][1]
    names: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$", line)
        if not m:
            raise InvalidInput(f"{source}: line {lineno}: cannot read {line!r}")
        key = m.group(1).lower()
        try:
            args = shlex.split(m.group(2), comments=False, posix=True)
        except ValueError as e:
            raise InvalidInput(f"{source}: line {lineno}: {e}") from None
        if key == "host":
            current = []
            blocks.append((args, current))
            names += [a for a in args if not any(c in a for c in "*?!")]
            continue
        if key == "match":
            current = None  # not supported: skip the block
            continue
        if current is not None:
            current.append((key, args, lineno))
    out: dict[str, Endpoint] = {}
    for name in dict.fromkeys(names):
        opts: dict[str, list[str]] = {}
        for patterns, options in blocks:
            if not _host_matches(patterns, name):
                continue
            for key, args, lineno in options:
                if key in _UNSUPPORTED:
                    raise InvalidInput(f"{source}: line {lineno}: {key} (host {name}) is not supported")
                if key in _LIST_OPTIONS:
                    opts.setdefault(key, []).extend(args)
                elif key not in opts:
                    opts[key] = args
        first = {k: (v[0] if v else "") for k, v in opts.items()}
        try:
            port = int(first.get("port", 22))
        except ValueError:
            raise InvalidInput(f"{source}: host {name}: Port {first.get('port')!r} is not a number") from None
        out[name] = Endpoint(
            name=name,
            hostname=first.get("hostname", name),
            port=port,
            user=first.get("user") or getpass.getuser(),
            identity_files=tuple(_expand(p, base) for p in opts.get("identityfile", [])),
            known_hosts=tuple(_expand(p, base) for p in opts.get("userknownhostsfile", [])),
            strict=first.get("stricthostkeychecking", "ask").lower(),
            identities_only=first.get("identitiesonly", "no").lower() == "yes",
        )
    return out


def read_ssh_config(path: str | Path) -> dict[str, Endpoint]:
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as e:
        raise InvalidInput(f"cannot read ssh-config {p}: {e.strerror}") from None
    eps = parse_ssh_config(text, base_dir=p.parent, source=str(p))
    if not eps:
        raise InvalidInput(f"ssh-config {p} names no hosts (no `Host NAME` lines)")
    return eps
