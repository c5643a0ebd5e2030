"""`lab.capture(...)` over SSH: tcpdump -w on the host, bounded, always stopped, the pcap downloaded.

The same object interface as `kanslab.capture.Capture`: a context manager; tcpdump runs while
the block runs; afterwards `.path` is the pcap on this machine and `.packets` its DataFrame."""

from __future__ import annotations

import os
import shlex
import tempfile
import uuid
from pathlib import Path

from ...errors import LabError
from .connection import SSHHost
from .process import RemoteProcess


class SSHCapture:
    def __init__(self, host: SSHHost, bpf: str = "", iface: str = "any", count: int = 10000, seconds: float = 60,
                 directory: str | None = None, start_timeout: float = 15):
        self.host, self.bpf, self.iface, self.count, self.seconds = host.name, bpf, iface, count, seconds
        self._h = host
        self.remote_path = f"/tmp/kanslab-{host.name}-{uuid.uuid4().hex[:12]}.pcap"
        fd, path = tempfile.mkstemp(prefix=f"kanslab-{host.name}-", suffix=".pcap", dir=directory)
        os.close(fd)
        self.path = Path(path)
        self.cmd = (f"timeout -s INT {max(1, int(seconds))} tcpdump --immediate-mode -U -nn -i {shlex.quote(iface)} "
                    f"-c {int(count)} -w {self.remote_path}" + (f" {shlex.quote(bpf)}" if bpf else ""))
        self.start_timeout = start_timeout
        self._proc: RemoteProcess | None = None
        self._stopped: RemoteProcess | None = None
        self._packets = None

    def __repr__(self) -> str:
        return f"<SSHCapture {self.host} iface={self.iface} bpf={self.bpf!r} -> {self.path}>"

    def __enter__(self) -> SSHCapture:
        self._proc = self._h.stream(self.cmd)
        # wait for tcpdump to say it is listening (a state, not a fixed sleep)
        if not self._proc.wait_for("listening on", timeout=self.start_timeout):
            err = self._proc.stderr.strip()
            self._proc.stop()
            self._cleanup_remote()
            raise LabError(f"tcpdump on {self.host} did not start: {err or 'no output'}")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        p = self._proc
        if p is None:
            return
        self._proc, self._stopped = None, p
        try:
            p.stop("INT")  # tcpdump flushes and exits on SIGINT
            self._h.download(self.remote_path, self.path)
        finally:
            self._cleanup_remote()

    def _cleanup_remote(self) -> None:
        try:
            self._h.run(f"rm -f -- {self.remote_path}", timeout=15)
        except Exception:
            pass  # best effort; the file is in /tmp

    @property
    def stderr(self) -> str:
        p = self._proc or self._stopped
        return p.stderr if p is not None else ""

    @property
    def packets(self):
        if self._packets is None:
            from ...parse import pcap

            self._packets = pcap(str(self.path))
        return self._packets
