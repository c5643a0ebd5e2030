"""The lab's record of everything it creates, written *before* each object exists.

Teardown works only from this record (never from name patterns), so it succeeds after a crash
at any point: an entry whose object never came to be is simply skipped. It returns only once
every process of the lab has exited (SIGTERM, up to `GRACE_SECONDS`, then SIGKILL), so a `kanslab
up` right after `down` finds nothing of the old lab running.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ...errors import LabError

STATE_ROOT = Path(os.environ.get("KANSLAB_STATE_ROOT", "/run/kanslab"))
TAG_VAR = "KANSLAB_LAB_TAG"


def state_dir(prefix: str) -> Path:
    return STATE_ROOT / prefix


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime (guards against pid reuse)


class Record:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.dir = state_dir(prefix)
        self.path = self.dir / "record.jsonl"

    def exists(self) -> bool:
        return self.path.exists()

    def add(self, kind: str, **fields) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"kind": kind, **fields}) + "\n"
        with open(self.path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def add_pid(self, pid: int, what: str) -> None:
        self.add("pid", pid=pid, start=_proc_start_time(pid), what=what)

    def env_tag(self) -> dict[str, str]:
        """An environment marker to give a process *before* it is spawned.

        A pid can only be recorded after the fork, so a crash in between would leave an unrecorded
        process; the tag is recorded first and inherited by the process and its children.
        """
        for e in self.entries():
            if e["kind"] == "envtag":
                return {TAG_VAR: e["value"]}
        value = f"{self.prefix}-{os.urandom(6).hex()}"
        self.add("envtag", value=value)
        return {TAG_VAR: value}

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write
        return out

    def netns(self) -> list[str]:
        return [e["name"] for e in self.entries() if e["kind"] == "netns"]


GRACE_SECONDS = 1.0  # what a process gets to exit on SIGTERM before SIGKILL (keeps `down` short)
KILL_WAIT_SECONDS = 10.0  # after SIGKILL only a process stuck in the kernel (state D) takes long


def _running(pid: int, start: str | None) -> bool:
    """The same process (by start time) still exists and has not exited (a zombie has: it holds no
    socket, file or namespace any more, only its exit status, until its parent -- often init -- reaps it)."""
    now = _proc_start_time(pid)
    return now is not None and (start is None or now == start) and not _is_zombie(pid)


def _signal(procs: dict[int, str | None], sig: int) -> None:
    for pid, start in procs.items():
        if _running(pid, start):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _wait_exited(procs: dict[int, str | None], timeout: float) -> dict[int, str | None]:
    """Wait until every process has exited, at most TIMEOUT seconds; those still running.

    Wakes on pidfds (readable once their process exits: an event, not a poll); a process without
    one (no pidfd support) is looked at every few milliseconds."""
    left = {pid: start for pid, start in procs.items() if _running(pid, start)}
    fds: list[int] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        try:
            for pid in left:
                try:
                    fd = os.pidfd_open(pid)
                except OSError:  # exited meanwhile, or no pidfd in this kernel
                    continue
                fds.append(fd)
                sel.register(fd, selectors.EVENT_READ)
            poll = len(fds) < len(left)
            while left and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in sel.select(min(remaining, 0.005) if poll else remaining):
                    sel.unregister(key.fd)  # stays readable: once is enough
                left = {pid: start for pid, start in left.items() if _running(pid, start)}
        finally:
            for fd in fds:
                os.close(fd)
    return left


def stop_processes(procs: dict[int, str | None], grace: float = GRACE_SECONDS) -> tuple[list[int], list[int]]:
    """Stop PROCS ({pid: start time}) all at once: SIGTERM, wait up to GRACE seconds for them to
    exit, SIGKILL the rest and wait until they have exited. Returns (the pids that needed SIGKILL,
    those that did not exit even then: stuck in the kernel).

    The daemons clean up on SIGTERM (FRR and BIRD withdraw their routes and close their sockets,
    Prometheus closes its database) but may take seconds; GRACE bounds `down` all the same."""
    _signal(procs, signal.SIGTERM)
    rest = _wait_exited(procs, grace)
    _signal(rest, signal.SIGKILL)
    stuck = _wait_exited(rest, KILL_WAIT_SECONDS)
    return sorted(rest), sorted(stuck)


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # already gone: as good as dead


def is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == real for line in f)
    except OSError:
        return False


def _ns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def _pids_in_netns(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one the record names (found via /proc, not names)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if os.stat(d / "ns" / "net").st_ino in inodes:
                found.append(int(d.name))
        except OSError:
            continue
    return found


def _pids_with_env(markers: set[bytes]) -> list[int]:
    """Processes carrying one of the recorded environment tags (never ourselves or our ancestors)."""
    spared, pid = set(), os.getpid()
    while pid > 1:  # a `kanslab down` typed inside a lab shell must not kill its own shell
        spared.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in spared:
            continue
        try:
            env = set((d / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if env & markers:
            found.append(int(d.name))
    return found


def teardown(prefix: str) -> list[str]:
    """Undo everything in the record, newest first. Returns a log of what was removed."""
    rec = Record(prefix)
    entries = rec.entries()
    log: list[str] = []
    # 1. processes: recorded pids, pids in recorded pidfiles, processes carrying the lab's env tag,
    #    and anything left inside our namespaces; all stopped together, and `down` returns only once
    #    every one has exited. A second look catches what a dying supervisor (the agent) started.
    procs: dict[int, str | None] = {}
    what: dict[int, str] = {}
    unstoppable: list[int] = []
    for e in reversed(entries):
        if e["kind"] == "pid":
            procs[e["pid"]] = e.get("start")
            what[e["pid"]] = e.get("what", "recorded")
        elif e["kind"] == "pidfile":
            try:
                pid = int(Path(e["path"]).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            start = _proc_start_time(pid)
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # gone already
            if start is not None and e.get("match", "") in cmd:
                procs[pid] = start
                what[pid] = e.get("match") or "pidfile"
    tags = {f"{TAG_VAR}={e['value']}".encode() for e in entries if e["kind"] == "envtag"}
    inodes = {i for i in (_ns_inode(n) for n in rec.netns()) if i is not None}
    for _ in range(5):
        for pid in _pids_with_env(tags) if tags else []:
            procs.setdefault(pid, _proc_start_time(pid))
            what.setdefault(pid, "tagged")
        for pid in _pids_in_netns(inodes):
            procs.setdefault(pid, _proc_start_time(pid))
            what.setdefault(pid, "stray")
        procs = {pid: start for pid, start in procs.items() if _running(pid, start)}
        if not procs:
            break
        killed, stuck = stop_processes(procs)
        log += [f"stopped {what.get(pid, '')} pid {pid}" + (" (SIGKILL)" if pid in killed else "") for pid in procs]
        if stuck:  # the rest is cleaned up around them; `down` then says so instead of returning quietly
            unstoppable += stuck
            break
        procs = {}
    # 2. namespaces (their links go with them; veth peers in other namespaces too)
    for e in reversed(entries):
        if e["kind"] == "netns" and Path(f"/run/netns/{e['name']}").exists():
            subprocess.run(["ip", "netns", "delete", e["name"]], capture_output=True)
            log.append(f"deleted netns {e['name']}")
    # 3. mounts: the mount and UTS namespace files, then the private <state>/ns mount holding them
    #    (the namespaces go with their last process); lazily, so a shell still inside cannot block it
    for e in reversed(entries):
        if e["kind"] == "mount" and is_mountpoint(e["path"]):
            subprocess.run(["umount", "-l", e["path"]], capture_output=True)
            log.append(f"unmounted {e['path']}")
    # 4. files and directories
    for e in reversed(entries):
        if e["kind"] in ("file", "dir"):
            p = Path(e["path"])
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink(missing_ok=True)
    shutil.rmtree(rec.dir, ignore_errors=True)
    if unstoppable:
        raise LabError(f"lab {prefix!r} is torn down, but processes {unstoppable} did not exit even on SIGKILL "
                       "(stuck in the kernel: see `ps -o pid,stat,wchan,cmd -p PID`)")
    return log
