"""Benchmark of kanslab.parse on big inputs; prints rows per second, asserts nothing.

    python bench/parse.py [--routes 100000] [--packets 200000]

- a 100,000-route Calico-like table as `route -n` and as `ip route` text (remote blocks via tunl0
  `proto bird onlink`, own blackholes, pod /32s on cali* veths, VXLAN/Direct `proto 80 onlink`),
  parsed by `route_n`, `ip_route`, and by jc alone (`jc.parse('route' / 'ip_route', ...)`);
- a 200,000-packet pcap (Ethernet; 1/3 IPIP+TCP, 1/3 VXLAN(VNI 4096)+Ethernet+IPv4+TCP, 1/3
  VXLAN+ICMP echo: Calico's defaults), written with struct, parsed by `pcap` and by plain dpkt
  (pcap.Reader + Ethernet decode + manual VXLAN unwrapping, the same fields).

Targets (issue 2): route tables >= 200,000 rows/s; pcap >= 100,000 packets/s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _load(name: str):
    # the modules only, so the bench runs even while a sibling parser module is being written
    try:
        return importlib.import_module(f"kanslab.parse.{name}")
    except ImportError:
        import types

        pkg = types.ModuleType("kanslab.parse")
        pkg.__path__ = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kanslab", "parse")]
        sys.modules["kanslab.parse"] = pkg
        return importlib.import_module(f"kanslab.parse.{name}")


# ------------------------------------------------------------------------------------------------
# inputs


def route_tables(n: int) -> tuple[str, str]:
    rn = ["Kernel IP routing table",
          "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface"]
    ip = []
    for i in range(n):
        a = f"172.{16 + i // 65536}.{(i // 256) % 256}.{i % 256}"
        node = f"192.168.10.{100 + i % 50}"
        k = i % 5
        if k == 0:
            rn.append(f"{a:<15} {node:<15} 255.255.255.192 UG    0      0        0 tunl0")
            ip.append(f"{a}/26 via {node} dev tunl0 proto bird onlink ")
        elif k == 1:
            rn.append(f"{a:<15} 0.0.0.0         255.255.255.192 U     0      0        0 *")
            ip.append(f"blackhole {a}/26 proto bird ")
        elif k == 2:
            rn.append(f"{a:<15} 0.0.0.0         255.255.255.255 UH    0      0        0 cali{i:011x}")
            ip.append(f"{a} dev cali{i:011x} scope link ")
        elif k == 3:
            rn.append(f"{a:<15} {node:<15} 255.255.255.192 UG    0      0        0 eth1")
            ip.append(f"{a}/26 via {node} dev eth1 proto 80 onlink ")
        else:
            rn.append(f"{a:<15} 0.0.0.0         255.255.255.0   U     100    0        0 eth1")
            ip.append(f"{a}/24 dev eth1 proto kernel scope link src 192.168.10.101 metric 100 ")
    return "\n".join(rn) + "\n", "\n".join(ip) + "\n"


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def _ip(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", _csum(h)) + h[12:] + payload


def _eth(payload: bytes, etype: int = 0x0800) -> bytes:
    return b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + struct.pack("!H", etype) + payload


def write_pcap(path: str, n: int) -> None:
    tcp = struct.pack("!HHIIBBHHH", 43210, 80, 1, 0, 5 << 4, 0x02, 64240, 0, 0)  # SYN
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"x" * 32
    ipip = _eth(_ip("192.168.10.101", "192.168.10.102", 4, _ip("172.16.158.1", "172.16.34.5", 6, tcp)))

    def vxlan(inner: bytes) -> bytes:
        vx = struct.pack("!BxxxI", 0x08, 4096 << 8) + _eth(inner)
        udp = struct.pack("!HHHH", 54321, 4789, 8 + len(vx), 0) + vx
        return _eth(_ip("192.168.10.101", "192.168.10.102", 17, udp))

    shapes = [ipip, vxlan(_ip("172.16.158.1", "172.16.34.5", 6, tcp)),
              vxlan(_ip("172.16.158.1", "172.16.34.5", 1, icmp))]
    rec = struct.Struct("<IIII")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        chunk = []
        for i in range(n):
            p = shapes[i % 3]
            chunk.append(rec.pack(1700000000 + i // 1000, (i % 1000) * 1000, len(p), len(p)))
            chunk.append(p)
        f.write(b"".join(chunk))


# ------------------------------------------------------------------------------------------------
# the same work by the libraries alone


def dpkt_alone(path: str) -> int:
    import dpkt

    rows = []
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            outer = (socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst), ip.p)
            encap, vni, inner = "none", None, ip
            if isinstance(ip.data, dpkt.ip.IP):
                encap, inner = "ipip", ip.data
            elif isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport == 4789:
                vx = bytes(ip.data.data)
                encap, vni = "vxlan", int.from_bytes(vx[4:7], "big")
                inner = dpkt.ethernet.Ethernet(vx[8:]).data
            l4 = inner.data
            sport = dport = flags = icmp_type = None
            if isinstance(l4, dpkt.tcp.TCP):
                sport, dport, flags = l4.sport, l4.dport, l4.flags
            elif isinstance(l4, dpkt.icmp.ICMP):
                icmp_type = l4.type
            rows.append((ts, len(buf), *outer, encap, vni, socket.inet_ntoa(inner.src),
                         socket.inet_ntoa(inner.dst), inner.p, icmp_type, sport, dport, flags))
    return len(rows)


def timed(label: str, fn, *args, unit: str = "rows") -> float:
    t0 = time.perf_counter()
    out = fn(*args)
    dt = time.perf_counter() - t0
    n = out if isinstance(out, int) else len(out)
    rate = n / dt
    print(f"  {label:<34} {n:>8,} {unit} in {dt:6.3f} s = {rate:>10,.0f} {unit}/s")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routes", type=int, default=100_000)
    ap.add_argument("--packets", type=int, default=200_000)
    a = ap.parse_args()
    import jc

    routes = _load("routes")
    pcap_mod = _load("pcap")
    rn, ipr = route_tables(a.routes)
    print(f"route tables ({a.routes:,} routes; target >= 200,000 rows/s)")
    timed("kanslab route_n", routes.route_n, rn)
    timed("jc alone: jc.parse('route')", lambda t: jc.parse("route", t, quiet=True), rn)
    timed("kanslab route_n(engine='jc')", lambda t: routes.route_n(t, engine="jc"), rn)
    timed("kanslab ip_route", routes.ip_route, ipr)
    timed("jc alone: jc.parse('ip_route')", lambda t: jc.parse("ip_route", t, quiet=True), ipr)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mixed.pcap")
        t0 = time.perf_counter()
        write_pcap(path, a.packets)
        print(f"pcap ({a.packets:,} packets, IPIP + VXLAN, {os.path.getsize(path) / 1e6:.1f} MB written in "
              f"{time.perf_counter() - t0:.2f} s; target >= 100,000 packets/s)")
        timed("kanslab pcap", pcap_mod.pcap, path, unit="packets")
        timed("dpkt alone (Reader + Ethernet)", dpkt_alone, path, unit="packets")


if __name__ == "__main__":
    main()
