"""The lab's record of everything it creates, written *before* each object exists.

Teardown works only from this record (never from name patterns), so it succeeds after a crash
at any point: an entry whose object never came to be is simply skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

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


def _kill(pid: int, start: str | None) -> None:
    if start is not None and _proc_start_time(pid) != start:
        return  # gone, or the pid now belongs to someone else
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    for _ in range(200):  # wait for the kernel to reap/zombify it, bounded
        st = _proc_start_time(pid)
        if st is None or st != start or _is_zombie(pid):
            return
        time.sleep(0.005)


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # already gone: as good as dead


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
    #    and anything left inside our namespaces
    for e in reversed(entries):
        if e["kind"] == "pid":
            _kill(e["pid"], e.get("start"))
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
                _kill(pid, start)
    tags = {f"{TAG_VAR}={e['value']}".encode() for e in entries if e["kind"] == "envtag"}
    for pid in _pids_with_env(tags) if tags else []:
        _kill(pid, _proc_start_time(pid))
        log.append(f"killed tagged pid {pid}")
    inodes = {i for i in (_ns_inode(n) for n in rec.netns()) if i is not None}
    for pid in _pids_in_netns(inodes):
        _kill(pid, _proc_start_time(pid))
        log.append(f"killed stray pid {pid}")
    # 2. namespaces (their links go with them; veth peers in other namespaces too)
    for e in reversed(entries):
        if e["kind"] == "netns" and Path(f"/run/netns/{e['name']}").exists():
            subprocess.run(["ip", "netns", "delete", e["name"]], capture_output=True)
            log.append(f"deleted netns {e['name']}")
    # 3. files and directories
    for e in reversed(entries):
        if e["kind"] in ("file", "dir"):
            p = Path(e["path"])
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink(missing_ok=True)
    shutil.rmtree(rec.dir, ignore_errors=True)
    return log
