"""One thread serves every pod: traefik/whoami over HTTP on TCP ports, echo on UDP ports.

A socket belongs to the namespace it was created in, so the agent opens each pod's listening
sockets from inside that pod's namespace and hands them to this single selector loop: a
hundred pods cost sockets, not processes.
"""

from __future__ import annotations

import os
import queue
import selectors
import socket
import threading

from .netns import InNetns


class PodServer(threading.Thread):
    def __init__(self, stop: threading.Event):
        super().__init__(daemon=True, name="pods")
        self.stop = stop
        self.sel = selectors.DefaultSelector()
        self.pending: queue.Queue = queue.Queue()
        self._r, self._w = os.pipe()
        self.sel.register(self._r, selectors.EVENT_READ, ("wake", None))
        self.pods: dict[str, list[socket.socket]] = {}

    # -- called from the agent's reconcile thread --------------------------------------------
    def add_pod(self, key: str, netns: str, hostname: str, ips: list[str], ports: list[tuple[int, str]]) -> None:
        socks = []
        with InNetns(netns):
            for port, proto in ports:
                if proto == "UDP":
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                else:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", port))
                if proto != "UDP":
                    s.listen(64)
                s.setblocking(False)
                socks.append((s, proto))
        self.pods[key] = [s for s, _ in socks]
        for s, proto in socks:
            self.pending.put(("add", s, proto, hostname, ips))
        os.write(self._w, b"x")

    def remove_pod(self, key: str) -> None:
        for s in self.pods.pop(key, []):
            self.pending.put(("del", s, None, None, None))
        os.write(self._w, b"x")

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stop.is_set():
            for k, _mask in self.sel.select(timeout=1.0):
                kind, data = k.data
                try:
                    if kind == "wake":
                        os.read(self._r, 4096)
                        self._drain()
                    elif kind == "listen":
                        self._accept(k.fileobj, data)
                    elif kind == "conn":
                        self._read(k.fileobj, data)
                    elif kind == "udp":
                        msg, addr = k.fileobj.recvfrom(65535)
                        k.fileobj.sendto(msg, addr)
                except OSError:
                    if kind == "conn":
                        self._close(k.fileobj)

    def _drain(self) -> None:
        while not self.pending.empty():
            op, s, proto, hostname, ips = self.pending.get()
            if op == "add":
                self.sel.register(s, selectors.EVENT_READ,
                                  ("udp" if proto == "UDP" else "listen", (hostname, ips)))
            else:
                try:
                    self.sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()

    def _accept(self, lsock: socket.socket, ident) -> None:
        conn, addr = lsock.accept()
        conn.setblocking(False)
        self.sel.register(conn, selectors.EVENT_READ, ("conn", [ident, addr, b"", lsock.getsockname()]))

    def _read(self, conn: socket.socket, state) -> None:
        data = conn.recv(65536)
        if not data:
            self._close(conn)
            return
        state[2] += data
        if b"\r\n\r\n" not in state[2] and b"\n\n" not in state[2] and len(state[2]) < 8192:
            return
        (hostname, ips), addr, req, _ = state
        size = _data_size(req)
        body = whoami_body(hostname, ips, addr, req) if size is None else b"-" * size
        head = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Connection: close\r\n\r\n").encode()
        conn.setblocking(True)
        conn.settimeout(2)
        try:
            conn.sendall(head + body)
        finally:
            self._close(conn)

    def _close(self, conn: socket.socket) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()


def whoami_body(hostname: str, ips: list[str], addr, request: bytes) -> bytes:
    """What traefik/whoami's whoamiHandler answers (app.go): `Hostname:`, one `IP:` line per address of
    every interface as Go's net.Interfaces lists them (`ips`, read from the pod's kernel), `RemoteAddr:`,
    then the request as Go's Request.Write re-serialises it, with its CRLF line ends."""
    lines = [f"Hostname: {hostname}"] + [f"IP: {ip}" for ip in ips] + [f"RemoteAddr: {addr[0]}:{addr[1]}"]
    return ("\n".join(lines) + "\n").encode() + go_request_write(request)


def go_request_write(request: bytes) -> bytes:
    """net/http's Request.Write of a request the server parsed: the request line with HTTP/1.1, Host,
    User-Agent (Go's default when the client sent none), then the other headers with canonical keys in
    sorted order (Header.write), each line ending in CRLF, and an empty line."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("latin-1")
    first, *rest = [ln.rstrip("\r") for ln in head.split("\n")]
    method, uri = (first.split() + ["GET", "/"])[:2]
    headers: dict[str, list[str]] = {}
    for ln in rest:
        if ":" in ln:
            k, v = ln.split(":", 1)
            key = "-".join(part.capitalize() for part in k.strip().split("-"))  # textproto.CanonicalMIMEHeaderKey
            headers.setdefault(key, []).append(v.strip())
    host = headers.pop("Host", [""])[0]
    agent = headers.pop("User-Agent", ["Go-http-client/1.1"])[0]
    for hop in ("Content-Length", "Transfer-Encoding", "Trailer"):  # written by the transfer writer, not here
        headers.pop(hop, None)
    out = [f"{method} {uri} HTTP/1.1", f"Host: {host}", f"User-Agent: {agent}"]
    out += [f"{k}: {v}" for k in sorted(headers) for v in headers[k]]
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def _data_size(request: bytes) -> int | None:
    """`GET /data?size=N`: whoami's dataHandler answers N bytes (capped here at 1 MiB); None otherwise."""
    import re

    m = re.match(rb"GET /data\?(?:[^ ]*&)?size=(\d+)", request)
    return min(int(m.group(1)), 1 << 20) if m else None
