"""SSH to lab hosts with paramiko: one kept connection per host, the way a notebook wants it.

`vagrant ssh k8s-w1 -c ...` costs a key exchange (and a Ruby start) per command; here every
host gets one connection, opened on first use and kept, and each command is a new channel on
it (a round trip, not a handshake). What this module gives a backend:

- hosts from an ssh-config in `vagrant ssh-config`'s format (`parse_ssh_config`);
- `SSHPool.sh(host, cmd, timeout=, check=, input=, sudo=)` with per-command timeouts; a command
  that times out is killed on the host (its whole process group) and raises `CommandError`;
- `SSHPool.sh_all(cmd)`: the same command on several hosts in parallel;
- `SSHPool.stream(...)`: long-running commands (tcpdump) whose output arrives while they run;
- `upload`/`download` over SFTP (falling back to `cat` over an exec channel where the server
  offers no SFTP subsystem, or where the file needs sudo);
- transparent reconnect: a connection found dead (the host rebooted, sshd restarted) is
  re-opened before the next command, waiting for the host to come back;
- host keys: a host's key is accepted without a prompt only when the ssh-config names that host
  and does not ask for strict checking (what Vagrant itself writes: `StrictHostKeyChecking no`);
  with a known_hosts file or a pinned key the key must match; anything else is refused. Once a
  session has seen a host's key, a different key on reconnect is refused;
- private keys are read from their files by paramiko and never appear in logs or errors (error
  text is scrubbed of anything shaped like a private key, command output included).
"""

from __future__ import annotations

import fnmatch
import getpass
import logging
import os
import queue
import re
import select
import shlex
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from ..errors import CommandError, InvalidInput, LabError, NotFound

log = logging.getLogger("kanslab.ssh")

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)


def scrub(text: str) -> str:
    """Text with every private-key block replaced (errors and logs go through this)."""
    if not text or "PRIVATE KEY" not in text:
        return text
    return _PRIVATE_KEY.sub("[private key removed]", text)


class SSHError(LabError):
    """Could not reach or log in to a lab host over SSH."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"[{host}] {scrub(message)}")


class HostKeyRefused(SSHError):
    """The host's key is unknown (strict checking) or differs from the recorded one."""


class AuthenticationFailed(SSHError):
    """The host refused every key offered."""


# -- ssh-config ---------------------------------------------------------------------------------

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


# -- one host -----------------------------------------------------------------------------------

@dataclass
class Result:
    host: str
    cmd: str
    stdout: str
    stderr: str
    exit_status: int
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def error(self) -> CommandError:
        return CommandError(self.host, self.cmd, self.exit_status, scrub(self.stderr), scrub(self.stdout))


_RETRYABLE = (OSError, EOFError, paramiko.SSHException)


def _wrap(cmd: str, sudo: bool) -> str:
    """What the host's shell runs: print our process-group id, then become bash -c CMD.

    sshd starts every session in a new session/process group, so the id printed first is the
    group to signal when the command times out or a stream is stopped."""
    inner = shlex.quote(cmd)
    runner = f"sudo -n -H -- bash -c {inner}" if sudo else f"bash -c {inner}"
    return f"printf '%s\\n' \"$$\"; exec {runner}"


class SSHHost:
    """One lab host: a kept paramiko Transport, re-opened when found dead."""

    def __init__(self, ep: Endpoint, sudo: bool, connect_timeout: float = 10.0, reconnect_timeout: float = 60.0,
                 max_sessions: int = 8, pins: dict[str, str] | None = None):
        self.ep, self.name, self.sudo = ep, ep.name, sudo
        self.connect_timeout, self.reconnect_timeout = connect_timeout, reconnect_timeout
        self._pins = pins if pins is not None else {}
        self._t: paramiko.Transport | None = None
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(max_sessions)  # sshd's MaxSessions is 10 by default
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_for: paramiko.Transport | None = None
        self._sftp_lock = threading.Lock()
        self._no_sftp = False
        self.connects = 0  # how many connections this host has needed (1 + reconnects)

    def __repr__(self) -> str:
        return f"<SSHHost {self.name} {self.ep.user}@{self.ep.address} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        return self._t is not None and self._t.is_active()

    # connection --------------------------------------------------------------------------------
    def _keys(self) -> list[paramiko.PKey]:
        keys = []
        for path in self.ep.identity_files:
            if not os.path.exists(path):
                continue  # as ssh: a missing IdentityFile is skipped
            try:
                keys.append(paramiko.PKey.from_path(path))
            except paramiko.PasswordRequiredException:
                raise AuthenticationFailed(self.name, f"identity file {path} is passphrase-protected; "
                                                      "kanslab needs an unencrypted key or ssh-agent") from None
            except (paramiko.SSHException, ValueError, OSError) as e:
                raise AuthenticationFailed(self.name, f"cannot use identity file {path}: "
                                                      f"{type(e).__name__}") from None
        return keys

    def _known_keys(self) -> list[str] | None:
        """Keys recorded for this endpoint in its known_hosts files; None when there is no usable file."""
        files = [f for f in self.ep.known_hosts if f != "/dev/null" and os.path.isfile(f)]
        if not files:
            return None
        found = []
        for f in files:
            try:
                hk = paramiko.HostKeys(f)
            except (OSError, paramiko.SSHException):
                continue
            entry = hk.lookup(self.ep.known_hosts_name)
            if entry:
                found += [f"{k.get_name()} {k.get_base64()}" for k in entry.values()]
        return found

    def _verify_host_key(self, key: paramiko.PKey) -> None:
        got = f"{key.get_name()} {key.get_base64()}"
        ep = self.ep
        pinned = self._pins.get(ep.name)
        if pinned is not None:
            if pinned != got:
                raise HostKeyRefused(ep.name, f"the host key of {ep.address} changed since this session first "
                                              f"connected ({key.get_name()} {key.fingerprint}); refusing")
            return
        if ep.host_key:
            if ep.host_key.split()[:2] != got.split():
                raise HostKeyRefused(ep.name, f"host key of {ep.address} ({key.fingerprint}) is not the pinned "
                                              "host_key; refusing")
        else:
            known = self._known_keys()
            if known:
                if got not in known:
                    raise HostKeyRefused(ep.name, f"host key of {ep.address} ({key.get_name()} {key.fingerprint}) "
                                                  f"does not match {', '.join(ep.known_hosts)}; refusing")
            elif ep.strict not in ("no", "off", "accept-new"):
                where = ", ".join(ep.known_hosts) or "no known_hosts file"
                raise HostKeyRefused(ep.name, f"unknown host key for {ep.address} ({key.get_name()} {key.fingerprint}) "
                                              f"and StrictHostKeyChecking {ep.strict} ({where}); refusing")
        self._pins[ep.name] = got

    def _authenticate(self, t: paramiko.Transport) -> None:
        keys = list(self._keys())
        if not self.ep.identities_only and os.environ.get("SSH_AUTH_SOCK"):
            keys += list(paramiko.Agent().get_keys())  # as ssh does: the agent's keys after the files
        for k in keys:
            try:
                t.auth_publickey(self.ep.user, k)
            except paramiko.AuthenticationException:
                continue
            if t.is_authenticated():
                return
        offered = ", ".join(self.ep.identity_files) or "no identity files"
        raise AuthenticationFailed(self.name, f"{self.ep.user}@{self.ep.address} refused every key offered "
                                              f"({offered})")

    def _connect_once(self) -> paramiko.Transport:
        sock = socket.create_connection((self.ep.hostname, self.ep.port), timeout=self.connect_timeout)
        # small request/reply packets: without this Nagle and delayed ACKs add ~40 ms to a command
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(sock)
        try:
            t.start_client(timeout=self.connect_timeout)
            self._verify_host_key(t.get_remote_server_key())
            self._authenticate(t)
            t.set_keepalive(15)
        except BaseException:
            t.close()
            raise
        return t

    def _connect(self) -> paramiko.Transport:
        # first contact fails fast; a host we had (rebooting, sshd restarting) is waited for
        wait = self.reconnect_timeout if self.connects else self.connect_timeout
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            try:
                t = self._connect_once()
                break
            except SSHError:
                raise
            except _RETRYABLE as e:
                if time.monotonic() + delay > deadline:
                    why = str(e) or type(e).__name__
                    raise SSHError(self.name, f"cannot connect to {self.ep.user}@{self.ep.address} "
                                              f"(waited {wait:.0f} s): {why}") from None
                time.sleep(delay)  # polling for the port to answer again, with backoff
                delay = min(delay * 2, 1.0)
        self.connects += 1
        log.debug("connected to %s (%s@%s), connection #%d", self.name, self.ep.user, self.ep.address, self.connects)
        return t

    def transport(self) -> paramiko.Transport:
        with self._lock:
            if self._t is None or not self._t.is_active():
                if self._t is not None:
                    log.debug("connection to %s is gone; reconnecting", self.name)
                    self._t.close()
                self._t = self._connect()
            return self._t

    def _drop(self, t: paramiko.Transport) -> None:
        with self._lock:
            if self._t is t:
                t.close()
                self._t = None

    def open_channel(self) -> paramiko.Channel:
        for attempt in (0, 1):
            t = self.transport()
            try:
                return t.open_session(timeout=self.connect_timeout)
            except paramiko.ChannelException as e:  # the host answered no (MaxSessions...): the connection is fine
                raise SSHError(self.name, f"the host refused a channel: {e}") from None
            except _RETRYABLE as e:
                # EOF, reset, or no answer at all (a VM that rebooted without closing the connection)
                self._drop(t)
                if attempt:
                    raise SSHError(self.name, f"connection lost and could not be re-opened: {e}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._sftp is not None:
                try:
                    self._sftp.close()
                except Exception:
                    pass
                self._sftp = None
            if self._t is not None:
                self._t.close()
                self._t = None

    # commands ----------------------------------------------------------------------------------
    def _start(self, cmd: str, sudo: bool) -> paramiko.Channel:
        for attempt in (0, 1):
            chan = self.open_channel()
            try:
                chan.exec_command(_wrap(cmd, sudo))
                return chan
            except _RETRYABLE as e:
                chan.close()
                t = chan.get_transport()
                if t is not None and t.is_active() or attempt:
                    raise SSHError(self.name, f"could not start `{cmd}`: {e}") from None
                self._drop(t)
        raise AssertionError("unreachable")

    def exec_bytes(self, cmd: str, timeout: float = 60, input: bytes | None = None,
                   sudo: bool | None = None) -> tuple[bytes, bytes, int]:
        """Run CMD; (stdout, stderr, exit status). Timeout: kill the command, exit status -1."""
        sudo = self.sudo if sudo is None else sudo
        deadline = time.monotonic() + timeout
        if not self._sessions.acquire(timeout=timeout):
            raise CommandError(self.name, cmd, -1, f"no free SSH session within {timeout} s")
        try:
            chan = self._start(cmd, sudo)
            try:
                return self._collect(chan, cmd, deadline, timeout, input, sudo)
            finally:
                chan.close()
        finally:
            self._sessions.release()

    def _collect(self, chan, cmd, deadline, timeout, input, sudo):
        if input:
            chan.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chan.sendall(input)
            except (TimeoutError, socket.timeout):
                pass  # the command does not read its input; the timeout below decides
            chan.settimeout(None)
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        fd = chan.fileno()
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
                continue
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                continue
            if chan.eof_received or chan.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                pgid = _pgid(out)
                if pgid:
                    self._kill(pgid, sudo, escalate=True)
                _, body = _split_pid(out)
                raise CommandError(self.name, cmd, -1, scrub(f"timed out after {timeout:g} s; the command was killed"
                                                            + (f"\n{err.decode(errors='replace')}" if err else "")),
                                   scrub(body.decode(errors="replace")))
            select.select([fd], [], [], min(left, 1.0))
        if chan.status_event.wait(max(0.05, deadline - time.monotonic())):
            status = chan.recv_exit_status()
        else:
            status = -1
        t = chan.get_transport()
        if status == -1 and not (t is not None and t.is_active()):
            err += b"\nthe connection was lost while the command ran"
        pid, body = _split_pid(out)
        if pid is None and status != -1:
            # the shell never printed our header: the login shell itself failed
            body = bytes(out)
        return bytes(body), bytes(err), status

    def _kill(self, pgid: int, sudo: bool, sig: str = "TERM", escalate: bool = False) -> None:
        """Signal the command's process group on the host; ESCALATE: TERM, wait up to 3 s, then KILL."""
        g = int(pgid)
        script = f"kill -{sig} -- -{g} 2>/dev/null || kill -{sig} {g} 2>/dev/null"
        if escalate:
            script = (f"kill -TERM -- -{g} 2>/dev/null || exit 0; i=0; "
                      f"while kill -0 -- -{g} 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; "
                      f"kill -KILL -- -{g} 2>/dev/null")
        try:
            self.exec_bytes(script + "; true", timeout=10, sudo=sudo)
        except Exception as e:  # best effort: the host may be gone
            log.debug("could not signal %s on %s: %s", pgid, self.name, e)

    def run(self, cmd: str, timeout: float = 60, input: str | bytes | None = None, sudo: bool | None = None) -> Result:
        t0 = time.monotonic()
        data = input.encode() if isinstance(input, str) else input
        out, err, status = self.exec_bytes(cmd, timeout=timeout, input=data, sudo=sudo)
        log.debug("[%s] %s -> %d", self.name, cmd, status)
        return Result(self.name, cmd, out.decode(errors="replace"), err.decode(errors="replace"), status,
                      time.monotonic() - t0)

    def stream(self, cmd: str, sudo: bool | None = None) -> RemoteProcess:
        sudo = self.sudo if sudo is None else sudo
        if not self._sessions.acquire(timeout=self.connect_timeout):
            raise CommandError(self.name, cmd, -1, "no free SSH session")
        try:
            chan = self._start(cmd, sudo)
        except BaseException:
            self._sessions.release()
            raise
        return RemoteProcess(self, cmd, sudo, chan)

    # files ---------------------------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient | None:
        """The host's SFTP client (kept with the connection), or None when the server has none."""
        if self._no_sftp:
            return None
        with self._sftp_lock:
            t = self.transport()
            if self._sftp is None or self._sftp_for is not t:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(t)
                    self._sftp_for = t
                except _RETRYABLE as e:
                    log.debug("no SFTP on %s (%s); using cat over exec", self.name, e)
                    self._no_sftp = True
                    return None
            return self._sftp

    def upload(self, data: bytes | str | Path, remote: str, mode: int | None = None, sudo: bool = False,
               timeout: float = 120) -> None:
        """Write bytes (or a local file's content) to REMOTE on the host."""
        if isinstance(data, Path):
            data = data.read_bytes()
        elif isinstance(data, str):
            data = data.encode()
        sf = None if sudo else self.sftp()
        if sf is not None:
            try:
                with sf.open(remote, "wb") as f:
                    f.write(data)
                if mode is not None:
                    sf.chmod(remote, mode)
                return
            except PermissionError:
                if not self.sudo:
                    raise CommandError(self.name, f"upload {remote}", 1, "permission denied") from None
                sudo = True
            except OSError as e:
                raise CommandError(self.name, f"upload {remote}", 1, e.strerror or str(e)) from None
        q = shlex.quote(remote)
        cmd = f"cat > {q}" + (f" && chmod {mode:o} {q}" if mode is not None else "")
        out, err, status = self.exec_bytes(cmd, timeout=timeout, input=data, sudo=sudo or None)
        if status != 0:
            raise CommandError(self.name, f"upload {remote}", status, err.decode(errors="replace"))

    def read_bytes(self, remote: str, sudo: bool = False, timeout: float = 120) -> bytes:
        sf = None if sudo else self.sftp()
        if sf is not None:
            try:
                with sf.open(remote, "rb") as f:
                    f.prefetch()
                    return f.read()
            except PermissionError:
                if not self.sudo:
                    raise CommandError(self.name, f"download {remote}", 1, "permission denied") from None
                sudo = True
            except OSError as e:
                raise CommandError(self.name, f"download {remote}", 1, e.strerror or str(e)) from None
        out, err, status = self.exec_bytes(f"cat -- {shlex.quote(remote)}", timeout=timeout, sudo=sudo or None)
        if status != 0:
            raise CommandError(self.name, f"download {remote}", status, err.decode(errors="replace"))
        return out

    def download(self, remote: str, local: str | Path, sudo: bool = False, timeout: float = 120) -> Path:
        local = Path(local)
        local.write_bytes(self.read_bytes(remote, sudo=sudo, timeout=timeout))
        return local

    # port forwarding -----------------------------------------------------------------------------
    def forward(self, remote_host: str, remote_port: int) -> LocalForward:
        """A loopback port on this machine that reaches REMOTE_HOST:REMOTE_PORT as seen from the host."""
        return LocalForward(self, remote_host, remote_port)


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

    def __init__(self, host: SSHHost, cmd: str, sudo: bool, chan: paramiko.Channel):
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
        return f"<RemoteProcess [{self.host.name}] `{self.cmd}` {state}>"

    def _read(self) -> None:
        chan = self._chan
        fd = chan.fileno()
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
                    continue
                if chan.eof_received or chan.closed:
                    break
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


class LocalForward:
    """127.0.0.1:<port> on this machine, each connection tunnelled to a host-side address over SSH."""

    def __init__(self, host: SSHHost, remote_host: str, remote_port: int):
        self.host, self.remote = host, (remote_host, remote_port)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"ssh-fwd-{host.name}").start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            try:
                chan = self.host.transport().open_channel("direct-tcpip", self.remote, peer,
                                                          timeout=self.host.connect_timeout)
            except Exception as e:
                log.debug("forward to %s via %s failed: %s", self.remote, self.host.name, e)
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, chan), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> LocalForward:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pump(sock: socket.socket, chan: paramiko.Channel) -> None:
    try:
        while True:
            r, _, _ = select.select([sock, chan], [], [], 60)
            if sock in r:
                data = sock.recv(65536)
                if not data:
                    break
                chan.sendall(data)
            if chan in r:
                data = chan.recv(65536)
                if not data:
                    break
                sock.sendall(data)
    except OSError:
        pass
    finally:
        chan.close()
        sock.close()


# -- the pool -----------------------------------------------------------------------------------

@dataclass
class SSHPool:
    """Every lab host's kept connection; what a backend calls."""

    endpoints: dict[str, Endpoint]
    sudo: bool | None = None          # None: sudo for every host whose user is not root
    connect_timeout: float = 10.0
    reconnect_timeout: float = 60.0
    max_sessions: int = 8
    _hosts: dict[str, SSHHost] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        pins: dict[str, str] = {}
        for name, ep in self.endpoints.items():
            sudo = self.sudo if self.sudo is not None else ep.user != "root"
            self._hosts[name] = SSHHost(ep, sudo, self.connect_timeout, self.reconnect_timeout,
                                        self.max_sessions, pins)

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


__all__ = ["Endpoint", "parse_ssh_config", "read_ssh_config", "SSHPool", "SSHHost", "RemoteProcess", "Result",
           "LocalForward", "SSHError", "HostKeyRefused", "AuthenticationFailed", "scrub"]
