"""IP-in-IP for kernels without the `ipip` module: a TUN device named tunl0 plus a raw socket.

Packets the node routes into tunl0 are read here and sent with a raw IPPROTO_IPIP socket to
the remote node, so the kernel adds a real outer IPv4 header with protocol 4 (what tcpdump on
the router shows). Protocol-4 packets arriving for this node are stripped and written back
into tunl0, exactly what the kernel's ipip driver does.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import select
import socket
import struct
import threading

from .netns import setns

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
IPPROTO_IPIP = 4


def ipip_module_available() -> bool:
    """True when this kernel can make real ipip devices (tried, not guessed from module files)."""
    from .probe import kernel_features

    return kernel_features()["ipip"]


class NextHops:
    """Longest-prefix match from inner destination to outer (node) address; swapped atomically."""

    def __init__(self):
        self._table: list[tuple[int, int, bytes]] = []

    def update(self, routes: dict[str, str]) -> None:
        t = []
        for prefix, hop in routes.items():
            n = ipaddress.ip_network(prefix, strict=False)
            t.append((int(n.prefixlen), int(n.network_address), socket.inet_aton(hop)))
        t.sort(reverse=True)
        self._table = t

    def lookup(self, dst: int) -> bytes | None:
        for plen, net, hop in self._table:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            if dst & mask == net:
                return hop
        return None


class TunEncapsulator(threading.Thread):
    def __init__(self, ns: str, nexthops: NextHops, stop: threading.Event):
        super().__init__(daemon=True, name=f"ipip-{ns}")
        self.ns, self.nexthops, self.stop = ns, nexthops, stop
        self.ready = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            setns(self.ns)  # this thread lives in the node's namespace from now on
            tun = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"tunl0", IFF_TUN | IFF_NO_PI))
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
        except Exception as e:  # reported by the agent, which waits on ready
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        r, w = os.pipe()
        self._wake = w
        while not self.stop.is_set():
            rd, _, _ = select.select([tun, raw, r], [], [], 1.0)
            if tun in rd:
                pkt = os.read(tun, 65535)
                if len(pkt) >= 20 and pkt[0] >> 4 == 4:  # IPv4 only (drop stray IPv6 like RS)
                    hop = self.nexthops.lookup(int.from_bytes(pkt[16:20], "big"))
                    if hop is not None:
                        try:
                            raw.sendto(pkt, (socket.inet_ntoa(hop), 0))
                        except OSError:
                            pass
            if raw in rd:
                pkt = raw.recv(65535)
                ihl = (pkt[0] & 0x0F) * 4
                inner = pkt[ihl:]
                if len(inner) >= 20 and inner[0] >> 4 == 4:
                    os.write(tun, inner)
        os.close(tun)
        raw.close()
