"""Reachability probes between pods: real TCP handshakes and UDP echoes, all in flight at once.

A socket belongs to the network namespace it was created in, so each client socket is opened
inside the client pod's namespace (`InNetns`, a setns of this thread for the time of one
`socket()` call) and then driven from here with non-blocking I/O: 81 probes cost 81 sockets and
one `select` loop, not 81 processes. A TCP probe succeeds when the handshake completes; a UDP
probe sends a datagram and succeeds when the pod's echo server sends it back (the datagram is
sent again halfway through the timeout, in case the first was lost). A refused connection
(RST, ICMP port unreachable) fails at once; a dropped one fails when the timeout expires.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time

from .netns import InNetns


def probe(pairs: list[tuple[str, str]], port: int, protocol: str = "TCP", timeout: float = 1.0) -> list[bool]:
    """`pairs` of (client network namespace, server IP); one bool per pair: did it connect?"""
    protocol = protocol.upper()
    if protocol not in ("TCP", "UDP"):
        raise ValueError(f"cannot probe {protocol}: the lab's pods serve TCP and UDP")
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    results = [False] * len(pairs)
    socks: dict[int, tuple[socket.socket, bytes]] = {}
    sel = selectors.DefaultSelector()
    by_ns: dict[str, list[int]] = {}
    for i, (netns, _ip) in enumerate(pairs):
        by_ns.setdefault(netns, []).append(i)
    try:
        for netns, idx in by_ns.items():
            with InNetns(netns):
                made = [socket.socket(socket.AF_INET, kind) for _ in idx]
            for i, s in zip(idx, made, strict=True):
                s.setblocking(False)
                payload = f"kanslab-probe {os.getpid()} {i} {time.monotonic_ns()}".encode()
                socks[i] = (s, payload)
                ip = pairs[i][1]
                if protocol == "TCP":
                    rc = s.connect_ex((ip, port))
                    if rc == 0:
                        results[i] = True
                    elif rc in (errno.EINPROGRESS, errno.EAGAIN):
                        sel.register(s, selectors.EVENT_WRITE, i)
                else:
                    try:
                        s.connect((ip, port))
                        s.send(payload)
                    except OSError:
                        continue
                    sel.register(s, selectors.EVENT_READ, i)
        start = time.monotonic()
        deadline = start + timeout
        resent = protocol != "UDP"
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                break
            if not resent and now >= start + timeout / 2:
                resent = True
                for key in list(sel.get_map().values()):
                    try:
                        key.fileobj.send(socks[key.data][1])  # type: ignore[union-attr]
                    except OSError:
                        pass
            wait = deadline - now if resent else min(deadline, start + timeout / 2) - now
            for key, _ in sel.select(max(wait, 0)):
                i, s = key.data, key.fileobj
                sel.unregister(s)
                if protocol == "TCP":
                    results[i] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0  # type: ignore[union-attr]
                else:
                    try:
                        results[i] = s.recv(65535) == socks[i][1]  # type: ignore[union-attr]
                    except OSError:
                        results[i] = False  # ICMP port unreachable: nothing listens there
    finally:
        sel.close()
        for s, _ in socks.values():
            s.close()
    return results
