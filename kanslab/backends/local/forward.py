"""`kanslab forward`: a loopback port on this machine that reaches an address inside the lab.

Each accepted connection gets a socket made inside a lab host's network namespace (the control
plane's by default), connected to the lab address, and bytes are copied both ways. The listener
binds 127.0.0.1 only: nothing outside this machine can use it, and the lab's traffic stays in the
lab. A bare number is a NodePort on the control plane's address, as the write-up's
`http://192.168.10.10:30001` is.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import threading

from ...errors import InvalidInput
from .netns import InNetns


def parse_target(text: str, topology) -> tuple[str, int]:
    """`30001` -> (control plane IP, 30001); `host:port` with a lab host name or an IPv4 address."""
    host, sep, port_text = str(text).rpartition(":")
    if not sep:
        host, port_text = "", str(text)
    try:
        port = int(port_text)
    except ValueError:
        raise InvalidInput(f"forward: {text!r} is not a port or host:port") from None
    if not 0 < port < 65536:
        raise InvalidInput(f"forward: port {port} is out of range 1-65535")
    if not host:
        host = topology.control_plane
    ips = {n.name: n.ip for n in topology.nodes}
    if host in ips:
        return ips[host], port
    try:
        return str(ipaddress.IPv4Address(host)), port
    except ValueError:
        raise InvalidInput(f"forward: {host!r} is neither a lab node ({', '.join(ips)}) nor an IPv4 address") from None


class Forwarder:
    """127.0.0.1:`local_port` -> `target`, connecting from inside `netns` (None: this namespace)."""

    def __init__(self, target: tuple[str, int], netns: str | None, local_port: int = 0):
        self.target, self.netns = target, netns
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind(("127.0.0.1", local_port))
        except OSError as e:
            self.listener.close()
            raise InvalidInput(f"forward: cannot listen on 127.0.0.1:{local_port}: {e.strerror}") from None
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def serve_forever(self) -> None:
        self.listener.settimeout(0.2)
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = self.listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()
        finally:
            self.listener.close()

    def _connect(self) -> socket.socket:
        if self.netns is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            with InNetns(self.netns):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.target)
        s.settimeout(None)
        return s

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = self._connect()
        except OSError:
            client.close()  # the browser sees the connection closed, as with a refused port
            return
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        open_ends = 2
        try:
            while open_ends and not self.stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    src, dst = key.fileobj, key.data
                    data = src.recv(65536)  # type: ignore[union-attr]
                    if data:
                        dst.sendall(data)
                        continue
                    sel.unregister(src)
                    open_ends -= 1
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        except OSError:
            pass
        finally:
            sel.close()
            client.close()
            upstream.close()
