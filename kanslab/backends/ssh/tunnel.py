"""Port forwarding over a host's kept SSH connection (`ssh -L`): the kubernetes API through k8s-m."""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import Any

import paramiko

log = logging.getLogger("kanslab.ssh")


class LocalForward:
    """127.0.0.1:<port> on this machine, each connection tunnelled to a host-side address over SSH."""

    def __init__(self, host: Any,  # an SSHHost (connection imports this module)
                 remote_host: str, remote_port: int):
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
    except (OSError, EOFError):   # the client or the SSH transport went away: nothing left to forward
        pass
    finally:
        try:
            chan.close()
        except EOFError:   # paramiko raises it when the transport closed first
            pass
        sock.close()
