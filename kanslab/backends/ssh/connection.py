"""`SSHHost`: one lab host's kept paramiko connection: connect, check the host key, log in,
reconnect when found dead, run commands, move files.

`vagrant ssh k8s-w1 -c ...` costs a key exchange (and a Ruby start) per command; here every
host gets one connection, opened on first use and kept, and each command is a new channel on
it (a round trip, not a handshake). A connection found dead (the host rebooted, sshd restarted)
is re-opened before the next command, waiting for the host to come back.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from ...errors import CommandError
from . import hostkeys
from .config import Endpoint
from .errors import AuthenticationDisconnect, AuthenticationFailed, SSHError, scrub
from .process import RemoteProcess, _pgid, _split_pid, _wrap, kill_script
from .tunnel import LocalForward

log = logging.getLogger("kanslab.ssh")


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
        return CommandError(self.host, scrub(self.cmd), self.exit_status, scrub(self.stderr), scrub(self.stdout))


_RETRYABLE = (OSError, EOFError, paramiko.SSHException)


class SSHHost:
    """One lab host: a kept paramiko Transport, re-opened when found dead."""

    def __init__(self, ep: Endpoint, sudo: bool, connect_timeout: float = 10.0, reconnect_timeout: float = 60.0,
                 max_sessions: int = 8, pins: dict[str, str] | None = None, keepalive: float = 5.0):
        self.ep, self.name, self.sudo = ep, ep.name, sudo
        self.connect_timeout, self.reconnect_timeout = connect_timeout, reconnect_timeout
        # seconds a running command may stay silent before the connection is asked whether it lives
        self.keepalive = keepalive
        self._probe_lock = threading.Lock()
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
    def _keys(self) -> tuple[list[tuple[str, paramiko.PKey]], list[str]]:
        """(path, key) for every usable IdentityFile, and why the others could not be used.

        As ssh does, a missing or unreadable file is skipped: the next one may be the right key."""
        keys, problems = [], []
        for path in self.ep.identity_files:
            if not os.path.exists(path):
                continue
            try:
                keys.append((path, paramiko.PKey.from_path(path)))
            except (paramiko.PasswordRequiredException, TypeError) as e:
                # cryptography raises TypeError for an encrypted OpenSSH-format key loaded without a password
                if isinstance(e, TypeError) and "password" not in str(e).lower():
                    problems.append(f"cannot use identity file {path}: {type(e).__name__}")
                    continue
                problems.append(f"{path} is passphrase-protected (kanslab needs an unencrypted key or ssh-agent)")
            except (paramiko.SSHException, ValueError, OSError) as e:
                why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
                problems.append(f"cannot use identity file {path}: {why}")  # never the file's content
        return keys, problems

    def _authenticate(self, t: paramiko.Transport) -> None:
        keys, problems = self._keys()
        if not self.ep.identities_only and os.environ.get("SSH_AUTH_SOCK"):
            keys += [("ssh-agent", k) for k in paramiko.Agent().get_keys()]  # as ssh: the agent's after the files
        who = f"{self.ep.user}@{self.ep.address}"
        for n, (_path, k) in enumerate(keys, 1):
            try:
                t.auth_publickey(self.ep.user, k)
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as e:
                if t.is_active():
                    raise
                raise AuthenticationDisconnect(
                    self.name, f"{who} closed the connection during login, after {n} key(s) offered "
                               f"({str(e) or type(e).__name__}). sshd does so after MaxAuthTries refused keys, "
                               "or when it refuses the user; name the right key (IdentityFile, IdentitiesOnly yes)"
                ) from None
            if t.is_authenticated():
                return
        offered = ", ".join(self.ep.identity_files) or "no identity files"
        raise AuthenticationFailed(self.name, f"{who} refused every key offered ({offered})"
                                              + (f"; {'; '.join(problems)}" if problems else ""))

    def _connect_once(self) -> paramiko.Transport:
        sock = socket.create_connection((self.ep.hostname, self.ep.port), timeout=self.connect_timeout)
        # small request/reply packets: without this Nagle and delayed ACKs add ~40 ms to a command
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a host that vanished (powered off, network cut) is found by the kernel within ~20 s
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, val in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), val)
        t = paramiko.Transport(sock)
        try:
            opts = t.get_security_options()
            opts.key_types = hostkeys.preferred_key_types(self.ep, self._pins, tuple(opts.key_types))
            t.start_client(timeout=self.connect_timeout)
            hostkeys.verify(self.ep, t.get_remote_server_key(), self._pins)
            self._authenticate(t)
            t.set_keepalive(15)
        except BaseException:
            t.close()
            raise
        return t

    def alive(self, t: paramiko.Transport, timeout: float | None = None) -> bool:
        """Does the server behind T still answer? (a keepalive request that wants a reply)

        A host that froze or rebooted without closing the connection sends nothing, and paramiko's
        own keepalives expect no reply, so only a question finds it dead."""
        if not t.is_active():
            return False
        done = threading.Event()

        def ask():
            try:
                t.global_request("keepalive@openssh.com", wait=True)  # sshd answers "failure": an answer
            except Exception:
                pass
            finally:
                done.set()
        with self._probe_lock:
            threading.Thread(target=ask, daemon=True, name=f"ssh-alive-{self.name}").start()
            answered = done.wait(self.connect_timeout if timeout is None else timeout)
        return answered and t.is_active()

    def _dead(self, t: paramiko.Transport | None, since: float) -> bool:
        """True (and the connection dropped) when T was silent since SINCE and no longer answers."""
        if t is None or time.monotonic() - since < self.keepalive:
            return False
        if self.alive(t):
            return False
        log.debug("connection to %s stopped answering; dropping it", self.name)
        self._drop(t)
        return True

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
            raise CommandError(self.name, scrub(cmd), -1, f"no free SSH session within {timeout} s")
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
        t = chan.get_transport()
        heard = time.monotonic()
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
                heard = time.monotonic()
                continue
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                heard = time.monotonic()
                continue
            if chan.eof_received or chan.closed:
                break
            if self._dead(t, heard):
                raise SSHError(self.name, f"the connection to {self.ep.address} stopped answering while `{cmd}` "
                                          "ran; its outcome is unknown (the next command reconnects)")
            if time.monotonic() - heard >= self.keepalive:
                heard = time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0:
                pgid = _pgid(out)
                if pgid:
                    self._kill(pgid, sudo, escalate=True)
                _, body = _split_pid(out)
                raise CommandError(self.name, scrub(cmd), -1, scrub(f"timed out after {timeout:g} s; the command was killed"
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
        """Signal the command on the host; ESCALATE: TERM, wait up to 3 s, then KILL (see `kill_script`)."""
        script = kill_script(pgid, sig, escalate)
        try:
            self.exec_bytes(script + "; true", timeout=10, sudo=sudo)
        except Exception as e:  # best effort: the host may be gone
            log.debug("could not signal %s on %s: %s", pgid, self.name, e)

    def run(self, cmd: str, timeout: float = 60, input: str | bytes | None = None, sudo: bool | None = None) -> Result:
        t0 = time.monotonic()
        data = input.encode() if isinstance(input, str) else input
        out, err, status = self.exec_bytes(cmd, timeout=timeout, input=data, sudo=sudo)
        log.debug("[%s] %s -> %d", self.name, scrub(cmd), status)
        return Result(self.name, cmd, out.decode(errors="replace"), err.decode(errors="replace"), status,
                      time.monotonic() - t0)

    def stream(self, cmd: str, sudo: bool | None = None) -> RemoteProcess:
        sudo = self.sudo if sudo is None else sudo
        if not self._sessions.acquire(timeout=self.connect_timeout):
            raise CommandError(self.name, scrub(cmd), -1, "no free SSH session")
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
            raise CommandError(self.name, f"upload {remote}", status, scrub(err.decode(errors="replace")))

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
            raise CommandError(self.name, f"download {remote}", status, scrub(err.decode(errors="replace")))
        return out

    def download(self, remote: str, local: str | Path, sudo: bool = False, timeout: float = 120) -> Path:
        local = Path(local)
        local.write_bytes(self.read_bytes(remote, sudo=sudo, timeout=timeout))
        return local

    # port forwarding -----------------------------------------------------------------------------
    def forward(self, remote_host: str, remote_port: int) -> LocalForward:
        """A loopback port on this machine that reaches REMOTE_HOST:REMOTE_PORT as seen from the host."""
        return LocalForward(self, remote_host, remote_port)
