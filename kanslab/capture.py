"""`lab.capture(...)`: real tcpdump on a lab host, bounded, always stopped, read into a DataFrame."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import LabError


class Capture:
    """Context manager: tcpdump runs while the block runs; `.packets` afterwards, `.path` for Wireshark."""

    def __init__(self, argv_prefix: list[str], host: str, bpf: str = "", iface: str = "any",
                 count: int = 10000, seconds: float = 60, directory: str | None = None):
        self.host, self.bpf, self.iface, self.count, self.seconds = host, bpf, iface, count, seconds
        fd, path = tempfile.mkstemp(prefix=f"kanslab-{host}-", suffix=".pcap", dir=directory)
        os.close(fd)
        os.chmod(path, 0o666)  # tcpdump may write it as another user than the one reading it
        self.path = Path(path)
        # --immediate-mode: without it the kernel hands packets over only when its ring buffer's
        # block times out (about 1 s), and a quick exchange (one ping) is lost when the block ends
        self._argv = argv_prefix + ["tcpdump", "-U", "--immediate-mode", "-nn", "-i", iface, "-c", str(count),
                                    "-w", str(self.path)]
        if bpf:
            self._argv += bpf.split()
        self._proc: subprocess.Popen | None = None
        self._packets = None

    def __enter__(self) -> "Capture":
        self._proc = subprocess.Popen(self._argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      start_new_session=True)
        self._started = time.monotonic()
        # wait for tcpdump to say it is listening (a state, not a fixed sleep)
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stderr, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + 10
        while b"listening on" not in buf:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise LabError(f"tcpdump on {self.host} did not start: {buf.decode(errors='replace').strip()}")
            if sel.select(timeout=0.2):
                buf += os.read(self._proc.stderr.fileno(), 4096)
        return self

    def _stop(self) -> None:
        p = self._proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGINT)  # tcpdump flushes and exits on SIGINT
            p.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def __exit__(self, *exc) -> None:
        self._stop()

    @property
    def packets(self):
        if self._packets is None:
            from .parse import pcap

            self._packets = pcap(str(self.path))
        return self._packets
