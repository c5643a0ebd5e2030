"""How much memory a running lab takes: the resident set of every process inside its namespaces,
plus the agent and kube-apiserver (in the root namespace) and their children (`ip monitor`)."""

from __future__ import annotations

import os

from .record import Record


def lab_rss(prefix: str) -> dict[str, int]:
    """{process name: bytes resident}, summed over the lab's processes (read from /proc)."""
    rec = Record(prefix)
    inodes = set()
    for ns in rec.netns():
        try:
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except OSError:
            pass
    roots = {int(e["pid"]) for e in rec.entries() if e.get("kind") == "pid"}
    page = os.sysconf("SC_PAGE_SIZE")
    procs: dict[int, tuple[int, str, int, int]] = {}   # pid -> (ppid, comm, rss, netns inode)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            comm = open(f"/proc/{d}/comm").read().strip()
            rss = int(open(f"/proc/{d}/statm").read().split()[1]) * page
            procs[int(d)] = (ppid, comm, rss, os.stat(f"/proc/{d}/ns/net").st_ino)
        except (OSError, ValueError, IndexError):
            continue   # gone meanwhile

    def from_lab(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = procs.get(pid, (0,))[0]
        return False

    out: dict[str, int] = {}
    for pid, (_, comm, rss, ino) in procs.items():
        if ino in inodes or from_lab(pid):
            out[comm] = out.get(comm, 0) + rss
    return out

