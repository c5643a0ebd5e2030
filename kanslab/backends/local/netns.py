"""Small helpers to run things inside the lab's network namespaces."""

from __future__ import annotations

import ctypes
import os
import subprocess

from ...errors import CommandError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(cmd: list[str], host: str = "localhost", input: str | None = None, check: bool = True,
        timeout: float | None = 60) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise CommandError(host, " ".join(cmd), p.returncode, p.stderr, p.stdout)
    return p


def in_netns(ns: str) -> list[str]:
    """The argv prefix running a program in a lab network namespace. nsenter only joins it; `ip netns
    exec` also makes a mount namespace and remounts /sys, a copy of the machine's mount table that
    costs much once a lab of 100 nodes has added its mounts (programs here need no /sys)."""
    return ["nsenter", f"--net=/run/netns/{ns}", "--"]


def ip_batch(ns: str | None, lines: list[str]) -> None:
    """Apply many iproute2 changes in one process (far faster than one `ip` per step)."""
    if not lines:
        return
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    run(cmd, host=ns or "root", input="\n".join(lines) + "\n")


def sysctl(ns: str, settings: dict[str, str]) -> None:
    args = " ".join(f"-w {k}={v}" for k, v in settings.items())
    run(["ip", "netns", "exec", ns, "sh", "-c", f"sysctl -q {args}"], host=ns)


def setns(ns: str) -> None:
    """Move the *calling thread* into a lab namespace (threads each keep their own)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


class InNetns:
    """`with InNetns(ns):` run this thread inside ns, then return to where it was."""

    def __init__(self, ns: str):
        self.ns = ns

    def __enter__(self):
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        setns(self.ns)
        return self

    def __exit__(self, *exc):
        _libc.setns(self._home, CLONE_NEWNET)
        os.close(self._home)
