"""A command on a lab host, as a process: how it is started, found again, signalled, and streamed.

Every command runs as `printf $$; exec bash -c CMD` (under `sudo -n` where the login user is not
root): the first line of its output is the id of the process group sshd made for the session,
which is how a command that times out, or a stream that is stopped, is killed on the host.
`RemoteProcess` is a long-running command (tcpdump, ping -c 100) whose output arrives while it runs.
"""

from __future__ import annotations

import logging
import queue
import select
import shlex
import threading
import time
from typing import Any

import paramiko

from .errors import scrub

log = logging.getLogger("kanslab.ssh")


def _wrap(cmd: str, sudo: bool) -> str:
    """What the host's shell runs: print our process-group id, then become bash -c CMD.

    sshd starts every session in a new session/process group, so the id printed first is the
    group to signal when the command times out or a stream is stopped."""
    inner = shlex.quote(cmd)
    runner = f"sudo -n -H -- bash -c {inner}" if sudo else f"bash -c {inner}"
    return f"printf '%s\\n' \"$$\"; exec {runner}"


def kill_script(pgid: int, sig: str = "TERM", escalate: bool = False) -> str:
    """Shell that signals a command started by `_wrap` whose session leader is PGID.

    The process group alone is not enough: sudo may run the command in a new session on a pty
    (Debian's and Ubuntu's sudoers set `use_pty`), and a command may call setsid itself. So the
    leader's whole process tree is collected first (before any signal re-parents it), then the
    group and every process in the tree are signalled. ESCALATE: TERM, wait up to 3 s, then KILL."""
    g = int(pgid)
    tree = ('tree() { for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done; echo "$1"; }; '
            f"pids=$(tree {g}); ")
    if not escalate:
        return tree + f"kill -{sig} -- -{g} $pids 2>/dev/null; true"
    return (tree + f"kill -TERM -- -{g} $pids 2>/dev/null; "
            "alive() { for p in $pids; do kill -0 $p 2>/dev/null && return 0; done; return 1; }; i=0; "
            "while alive && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; "
            f"kill -KILL -- -{g} $pids 2>/dev/null; true")


def _split_pid(out: bytes | bytearray) -> tuple[int | None, bytes]:
    nl = out.find(b"\n")
    if nl < 0:
        return None, bytes(out)
    head = out[:nl]
    if head.isdigit():
        return int(head), bytes(out[nl + 1:])
    return None, bytes(out)


def _pgid(out: bytes | bytearray) -> int | None:
    return _split_pid(out)[0]


class RemoteProcess:
    """A command running on a host whose output arrives while it runs (tcpdump, ping -c 100 ...)."""

    def __init__(self, host: Any,  # the SSHHost that started it (connection imports this module)
                 cmd: str, sudo: bool, chan: paramiko.Channel):
        self.host, self.cmd, self.sudo, self._chan = host, cmd, sudo, chan
        chan.shutdown_write()
        self._out, self._err = bytearray(), bytearray()
        self._pid: int | None = None
        self._have_pid = threading.Event()
        self._cv = threading.Condition()
        self._lines: queue.Queue = queue.Queue()
        self._partial = b""
        self._done = threading.Event()
        self.exit_status: int | None = None
        self._released = False
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"ssh-stream-{host.name}")
        self._reader.start()

    def __repr__(self) -> str:
        state = "running" if not self._done.is_set() else f"exited {self.exit_status}"
        return f"<RemoteProcess [{self.host.name}] `{scrub(self.cmd)}` {state}>"

    def _read(self) -> None:
        chan = self._chan
        fd = chan.fileno()
        t = chan.get_transport()
        heard = time.monotonic()
        try:
            while True:
                got = False
                if chan.recv_ready():
                    self._feed_out(chan.recv(65536))
                    got = True
                if chan.recv_stderr_ready():
                    data = chan.recv_stderr(65536)
                    with self._cv:
                        self._err += data
                        self._cv.notify_all()
                    got = True
                if got:
                    heard = time.monotonic()
                    continue
                if chan.eof_received or chan.closed:
                    break
                if self.host._dead(t, heard):  # the host froze or vanished: the stream is over
                    with self._cv:
                        self._err += b"\nthe connection stopped answering"
                    break
                if time.monotonic() - heard >= self.host.keepalive:
                    heard = time.monotonic()
                select.select([fd], [], [], 1.0)
            chan.status_event.wait(5)
            self.exit_status = chan.recv_exit_status() if chan.status_event.is_set() else -1
        except Exception as e:  # connection lost
            log.debug("stream on %s ended: %s", self.host.name, e)
            self.exit_status = -1
        finally:
            if self._partial:
                self._lines.put(self._partial.decode(errors="replace"))
            self._lines.put(None)
            self._done.set()
            self._have_pid.set()
            with self._cv:
                self._cv.notify_all()
            chan.close()
            self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self.host._sessions.release()

    def _feed_out(self, data: bytes) -> None:
        if self._pid is None and not self._have_pid.is_set():
            buf = self._partial + data
            nl = buf.find(b"\n")
            if nl < 0:
                self._partial = buf
                return
            pid, rest = _split_pid(buf)
            self._pid = pid
            self._have_pid.set()
            self._partial = b""
            data = rest if pid is not None else buf
        with self._cv:
            self._out += data
            self._cv.notify_all()
        buf = self._partial + data
        *lines, self._partial = buf.split(b"\n")
        for ln in lines:
            self._lines.put(ln.decode(errors="replace"))

    @property
    def pid(self) -> int | None:
        """The process-group id of the command on the host."""
        self._have_pid.wait(self.host.connect_timeout)
        return self._pid

    @property
    def stdout(self) -> str:
        with self._cv:
            return self._out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        with self._cv:
            return self._err.decode(errors="replace")

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait_for(self, text: str, timeout: float = 10, stream: str = "stderr") -> bool:
        """Wait until TEXT appears in the command's stderr (or stdout); False if it exited or timed out first."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                buf = self._err if stream == "stderr" else self._out
                if needle in buf:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._done.is_set():
                    return False
                self._cv.wait(min(left, 1.0))

    def lines(self, timeout: float | None = None):
        """Stdout lines as they arrive, until the command ends (or TIMEOUT seconds without a line)."""
        while True:
            try:
                ln = self._lines.get(timeout=timeout)
            except queue.Empty:
                return
            if ln is None:
                return
            yield ln

    def signal(self, sig: str = "INT") -> None:
        if self._done.is_set():
            return
        pid = self.pid
        if pid:
            self.host._kill(pid, self.sudo, sig)

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self.exit_status

    def stop(self, sig: str = "INT", timeout: float = 10) -> int | None:
        """Signal the command (SIGINT: tcpdump flushes and exits), wait, KILL if it lingers."""
        if self.running:
            self.signal(sig)
            if not self._done.wait(timeout):
                self.signal("KILL")
                if not self._done.wait(5):
                    self._chan.close()
                    self._done.wait(5)
        return self.exit_status

    def __enter__(self) -> RemoteProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
