"""The cluster DNS: Debian's dnsmasq run inside each coredns pod's network namespace.

CoreDNS itself is not packaged for Debian; dnsmasq answers the same names from a hosts file the
agent rewrites when Services, endpoints or pods change (emulator/dns_records.py), re-read on SIGHUP.
It has no upstream (`--no-resolv`): a lab host has no internet, and names outside cluster.local get
REFUSED instead of a query leaving the machine. Each dnsmasq is recorded by its pidfile as it starts,
so `kanslab down` stops it even after a crash.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ...emulator.dns_records import TTL
from .netns import run

COREDNS_LABEL = ("k8s-app", "kube-dns")


def is_coredns(namespace: str, labels: dict) -> bool:
    return namespace == "kube-system" and labels.get(COREDNS_LABEL[0]) == COREDNS_LABEL[1]


class ClusterDNS:
    def __init__(self, names, rec):
        self.names, self.rec = names, rec
        self.dir = Path(names.dir) / "dns"
        self.hosts = self.dir / "hosts"
        self.running: dict[str, Path] = {}   # pod key -> pidfile
        self.text = None

    def sync(self, hosts_text: str, coredns: dict[str, str]) -> None:
        """Write the records; run one dnsmasq per coredns pod (key -> its netns), stop the others'.

        A dnsmasq already running for a pod (an agent started again) is kept and told to re-read."""
        self.dir.mkdir(parents=True, exist_ok=True)
        changed = hosts_text != self.text
        if changed:
            tmp = self.hosts.with_suffix(".tmp")
            tmp.write_text(hosts_text)
            os.replace(tmp, self.hosts)
        for key in [k for k in self.running if k not in coredns]:
            _signal(self.running.pop(key), signal.SIGTERM)
        for key, netns in coredns.items():
            pidfile = self.dir / (key.replace("/", "_") + ".pid")
            if _pid(pidfile) is None:
                self._start(key, netns, pidfile)
            elif changed or key not in self.running:
                _signal(pidfile, signal.SIGHUP)
            self.running[key] = pidfile
        self.text = hosts_text

    def _start(self, key: str, netns: str, pidfile: Path) -> None:
        self.rec.add("pidfile", path=str(pidfile), match="dnsmasq")
        run(["ip", "netns", "exec", netns, "dnsmasq", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             f"--addn-hosts={self.hosts}", f"--local-ttl={TTL}", "--local=/cluster.local/", "--no-negcache",
             "--user=root", "--group=root", f"--pid-file={pidfile}",
             f"--log-facility={pidfile.with_suffix('.log')}"], host=key)


def _pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _signal(pidfile: Path, sig: int) -> None:
    pid = _pid(pidfile)
    if pid is not None:
        os.kill(pid, sig)
