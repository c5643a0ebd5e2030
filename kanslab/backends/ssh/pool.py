"""`SSHPool`: every lab host's kept connection, by name; what a backend calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CommandError, NotFound
from .config import Endpoint
from .connection import Result, SSHHost
from .errors import SSHError
from .process import RemoteProcess


@dataclass
class SSHPool:
    """Every lab host's kept connection; what a backend calls."""

    endpoints: dict[str, Endpoint]
    sudo: bool | None = None          # None: sudo for every host whose user is not root
    connect_timeout: float = 10.0
    reconnect_timeout: float = 60.0
    max_sessions: int = 8
    keepalive: float = 5.0            # silence (s) on a running command before the connection is checked
    _hosts: dict[str, SSHHost] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        pins: dict[str, str] = {}
        for name, ep in self.endpoints.items():
            sudo = self.sudo if self.sudo is not None else ep.user != "root"
            self._hosts[name] = SSHHost(ep, sudo, self.connect_timeout, self.reconnect_timeout,
                                        self.max_sessions, pins, self.keepalive)

    @property
    def hosts(self) -> list[str]:
        return list(self._hosts)

    def host(self, name: str) -> SSHHost:
        try:
            return self._hosts[name]
        except KeyError:
            raise NotFound(f"unknown host {name!r}; the ssh-config names {', '.join(self._hosts) or 'no hosts'}") \
                from None

    def connect_all(self, hosts: list[str] | None = None) -> dict[str, Exception | None]:
        """Open every connection in parallel; host -> None or the error."""
        names = hosts or self.hosts

        def one(n):
            try:
                self.host(n).transport()
                return None
            except Exception as e:
                return e
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as ex:
            return dict(zip(names, ex.map(one, names), strict=True))

    def run(self, host: str, cmd: str, timeout: float = 60, input: str | bytes | None = None,
            sudo: bool | None = None) -> Result:
        return self.host(host).run(cmd, timeout=timeout, input=input, sudo=sudo)

    def sh(self, host: str, cmd: str, timeout: float = 60, check: bool = True, input: str | bytes | None = None,
           sudo: bool | None = None) -> str:
        r = self.run(host, cmd, timeout=timeout, input=input, sudo=sudo)
        if check and r.exit_status != 0:
            raise r.error()
        return r.stdout

    def run_all(self, cmd: str, hosts: list[str] | None = None, timeout: float = 60,
                sudo: bool | None = None) -> dict[str, Result]:
        """CMD on every host (or HOSTS) at once; host -> Result (connection failures are exit -1)."""
        names = list(hosts) if hosts is not None else self.hosts
        for n in names:
            self.host(n)

        def one(n):
            try:
                return self.run(n, cmd, timeout=timeout, sudo=sudo)
            except CommandError as e:
                return Result(n, cmd, e.stdout, e.stderr, e.exit_status)
            except SSHError as e:
                return Result(n, cmd, "", str(e), -1)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as ex:
            return dict(zip(names, ex.map(one, names), strict=True))

    def sh_all(self, cmd: str, hosts: list[str] | None = None, timeout: float = 60, check: bool = True,
               sudo: bool | None = None) -> dict[str, str]:
        results = self.run_all(cmd, hosts, timeout=timeout, sudo=sudo)
        if check:
            for r in results.values():
                if r.exit_status != 0:
                    raise r.error()
        return {h: r.stdout for h, r in results.items()}

    def stream(self, host: str, cmd: str, sudo: bool | None = None) -> RemoteProcess:
        return self.host(host).stream(cmd, sudo=sudo)

    def upload(self, host: str, data: bytes | str | Path, remote: str, mode: int | None = None,
               sudo: bool = False) -> None:
        self.host(host).upload(data, remote, mode=mode, sudo=sudo)

    def download(self, host: str, remote: str, local: str | Path, sudo: bool = False) -> Path:
        return self.host(host).download(remote, local, sudo=sudo)

    def close(self) -> None:
        for h in self._hosts.values():
            h.close()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
