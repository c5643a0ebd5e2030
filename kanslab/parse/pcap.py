"""Packet captures (`tcpdump -w`, classic pcap or pcapng) -> one row per packet, tunnels unwrapped.

Columns: `time` (float, Unix epoch), `length` (bytes on the wire), `link` (ethernet | linux_sll |
linux_sll2 | raw), `outer_src, outer_dst, outer_proto` (the outermost IP header), `encap` ('none' |
'ipip' | 'vxlan'), `vni` (VXLAN network identifier, NA otherwise), `src, dst, proto` (the inner
header when encapsulated, else the same as the outer one), `icmp_type`, `sport, dport`,
`tcp_flags` (tcpdump's letters with `A` for its `.`: 'S', 'SA', 'A', 'PA', 'FA', 'R'; 'none' for
a TCP header without flags), all of the innermost packet. A frame that is not IP (ARP, also ARP
inside VXLAN) gets a row with NA addresses and protocols.

Speed: dpkt's object decoding runs at about 40,000 packets/s here, so the usual shapes (IPv4,
IPIP, VXLAN + Ethernet + IPv4, TCP/UDP/ICMP over Ethernet, Linux cooked v1/v2 or raw IP) are read
with `struct.unpack_from` straight from the file's bytes; anything else (IPv6, VLAN stacks,
truncated headers, ...) goes to dpkt. Readers of both kinds give the same row.
"""

from __future__ import annotations

import os
import struct
from socket import inet_ntoa

import pandas as pd

from ._common import fail, no_gc

COLUMNS = ["time", "length", "link", "outer_src", "outer_dst", "outer_proto", "encap", "vni",
           "src", "dst", "proto", "icmp_type", "sport", "dport", "tcp_flags"]
_INT_COLUMNS = ["outer_proto", "vni", "proto", "icmp_type", "sport", "dport"]

LINKTYPES = {1: "ethernet", 113: "linux_sll", 276: "linux_sll2", 101: "raw", 12: "raw", 14: "raw",
             228: "raw", 229: "raw"}
_ETH, _SLL, _SLL2, _RAW = 1, 113, 276, 101
_LINK_CODE = {1: _ETH, 113: _SLL, 276: _SLL2, 101: _RAW, 12: _RAW, 14: _RAW, 228: _RAW, 229: _RAW}

_FLAG_LETTERS = [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"), (0x20, "U"),
                 (0x40, "E"), (0x80, "W")]
TCP_FLAGS = ["".join(c for bit, c in _FLAG_LETTERS if v & bit) or "none" for v in range(256)]

_H = struct.Struct("!H").unpack_from
_I = struct.Struct("!I").unpack_from
_HH = struct.Struct("!HH").unpack_from
# IPv4 header without the first byte: total length, frag field, protocol, src, dst
_IP4 = struct.Struct("!xxHxxHxB2x4s4s").unpack_from

_NA = None
_NONE = (None, None, None, "none") + (None,) * 8  # not IP


def pcap(path_or_bytes, vxlan_port: int = 4789) -> pd.DataFrame:
    """A pcap/pcapng file (path, bytes or binary file object) -> DataFrame, one row per packet.

    A truncated last record (tcpdump killed while writing) is dropped; a file that is not a
    capture raises ParseError.
    """
    data = _read(path_or_bytes)
    if len(data) < 4:
        fail("pcap", "not a pcap or pcapng file (too short)")
    magic = data[:4]
    with no_gc():
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            rows = _read_pcap(data, vxlan_port)
        elif magic == b"\x0a\x0d\x0d\x0a":
            rows = _read_pcapng(data, vxlan_port)
        else:
            fail("pcap", f"not a pcap or pcapng file (magic {magic.hex()})")
        return _frame(rows)


def _read(src) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if hasattr(src, "read"):
        return src.read()
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            return f.read()
    raise TypeError(f"pcap() takes a path, bytes or a binary file, not {type(src).__name__}")


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in COLUMNS]
    out = {}
    for name, col in zip(COLUMNS, cols, strict=True):
        if name in _INT_COLUMNS:
            out[name] = pd.array(col, dtype="Int64")
        elif name in ("time", "length"):
            out[name] = pd.array(col, dtype="float64" if name == "time" else "int64")
        else:
            out[name] = list(col)
    return pd.DataFrame(out, columns=COLUMNS)


# ------------------------------------------------------------------------------------------------
# file formats


def _read_pcap(data: bytes, vxlan_port: int) -> list[tuple]:
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    if len(data) < 24:
        fail("pcap", "truncated pcap file header")
    linktype = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
    code = _LINK_CODE.get(linktype)
    if code is None:
        fail("pcap", f"unsupported link type {linktype} (ethernet, Linux cooked v1/v2 and raw IP are read)")
    link = LINKTYPES[linktype]
    rec = struct.Struct(e + "IIII").unpack_from
    decode = _decode
    rows = []
    append = rows.append
    n = len(data)
    off = 24
    while off + 16 <= n:
        sec, frac, incl, orig = rec(data, off)
        p = off + 16
        off = p + incl
        if off > n:
            break  # truncated last record
        append((sec + frac * scale, orig, link) + decode(data, p, off, code, vxlan_port))
    return rows


def _read_pcapng(data: bytes, vxlan_port: int) -> list[tuple]:
    rows: list[tuple] = []
    n = len(data)
    off = 0
    e = "<"
    ifaces: list[tuple[int, str, float, float]] = []  # (code, link name, ts unit, ts offset)
    decode = _decode
    while off + 12 <= n:
        btype = struct.unpack_from(e + "I", data, off)[0]
        if btype == 0x0A0D0D0A:  # section header: byte order, new interface list
            bom = data[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else None
            if e is None:
                fail("pcap", "bad pcapng byte-order magic")
            ifaces = []
        blen = struct.unpack_from(e + "I", data, off + 4)[0]
        if blen < 12 or off + blen > n:
            break  # truncated last block
        body = off + 8
        end = off + blen - 4
        if btype == 1:  # interface description
            linktype = struct.unpack_from(e + "H", data, body)[0]
            unit, tsoff = 1e-6, 0.0
            o = body + 8
            while o + 4 <= end:
                code, olen = struct.unpack_from(e + "HH", data, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:  # if_tsresol
                    r = data[o + 4]
                    unit = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -r
                elif code == 14 and olen >= 8:  # if_tsoffset
                    tsoff = float(struct.unpack_from(e + "q", data, o + 4)[0])
                o += 4 + ((olen + 3) & ~3)
            ifaces.append((_LINK_CODE.get(linktype, -linktype - 1), LINKTYPES.get(linktype, ""), unit, tsoff))
        elif btype in (6, 2):  # enhanced packet / obsolete packet block
            if btype == 6:
                ifid, hi, lo, incl, orig = struct.unpack_from(e + "IIIII", data, body)
                p = body + 20
            else:
                ifid, _drops, hi, lo, incl, orig = struct.unpack_from(e + "HHIIII", data, body)
                p = body + 20
            if ifid >= len(ifaces):
                fail("pcap", f"packet on undeclared interface {ifid}")
            code, link, unit, tsoff = ifaces[ifid]
            if code < 0:
                fail("pcap", f"unsupported link type {-code - 1} on interface {ifid}")
            rows.append((((hi << 32) | lo) * unit + tsoff, orig, link)
                        + decode(data, p, min(p + incl, end), code, vxlan_port))
        elif btype == 3:  # simple packet block: no timestamp, interface 0
            if not ifaces:
                fail("pcap", "packet before any interface description")
            code, link, _unit, _tsoff = ifaces[0]
            if code < 0:
                fail("pcap", f"unsupported link type {-code - 1}")
            orig = struct.unpack_from(e + "I", data, body)[0]
            p = body + 4
            rows.append((float("nan"), orig, link) + decode(data, p, min(p + orig, end), code, vxlan_port))
        off += blen
    return rows


# ------------------------------------------------------------------------------------------------
# packet decoding: fast path


def _decode(data: bytes, p: int, end: int, code: int, vxlan_port: int) -> tuple:
    """Frame bytes data[p:end] -> (outer_src, outer_dst, outer_proto, encap, vni, src, dst, proto,
    icmp_type, sport, dport, tcp_flags)."""
    # link layer -> EtherType and the offset of the network header
    if code == _ETH:
        etype_at, hdr = p + 12, 14
    elif code == _SLL2:
        etype_at, hdr = p, 20
    elif code == _SLL:
        etype_at, hdr = p + 14, 16
    else:  # raw IP: the version nibble says which
        etype_at, hdr = -1, 0
    if p + hdr >= end:
        return _NONE
    if etype_at < 0:
        v = data[p] >> 4
        etype = 0x0800 if v == 4 else 0x86DD if v == 6 else 0
    else:
        etype = _H(data, etype_at)[0]
    p += hdr
    if etype != 0x0800 or data[p] >> 4 != 4:
        return _slow(data, p, end, etype, vxlan_port)
    try:
        b0 = data[p]
        tot, frag, proto, s, d = _IP4(data, p)
        osrc, odst = inet_ntoa(s), inet_ntoa(d)
        q = p + (b0 & 15) * 4
        if p + tot < end:
            end = p + tot  # Ethernet padding
        if frag & 0x1FFF:  # not the first fragment: no transport header
            return (osrc, odst, proto, "none", _NA, osrc, odst, proto, _NA, _NA, _NA, _NA)
        if proto == 6:
            sport, dport = _HH(data, q)
            return (osrc, odst, 6, "none", _NA, osrc, odst, 6, _NA, sport, dport, TCP_FLAGS[data[q + 13]])
        if proto == 17:
            sport, dport = _HH(data, q)
            if dport == vxlan_port and end - q >= 8 + 8 + 14 and data[q + 8] & 0x08:
                vni = _I(data, q + 12)[0] >> 8
                r = q + 16  # inner Ethernet
                etype = _H(data, r + 12)[0]
                r += 14
                if etype != 0x0800 or r >= end or data[r] >> 4 != 4:
                    return (osrc, odst, 17, "vxlan", vni) + _slow(data, r, end, etype, vxlan_port)[5:]
                return (osrc, odst, 17, "vxlan", vni) + _inner4(data, r, end)
            return (osrc, odst, 17, "none", _NA, osrc, odst, 17, _NA, sport, dport, _NA)
        if proto == 1:
            return (osrc, odst, 1, "none", _NA, osrc, odst, 1, data[q], _NA, _NA, _NA)
        if proto == 4 and q < end and data[q] >> 4 == 4:
            return (osrc, odst, 4, "ipip", _NA) + _inner4(data, q, end)
        if proto in (4, 41):  # IPv6 in IPv4 and odd shapes
            return _slow(data, p, end, 0x0800, vxlan_port)
        return (osrc, odst, proto, "none", _NA, osrc, odst, proto, _NA, _NA, _NA, _NA)
    except (struct.error, IndexError):  # header cut by the snaplen, or malformed: let dpkt try
        return _slow(data, p, end, 0x0800, vxlan_port)


def _inner4(data: bytes, p: int, end: int) -> tuple:
    """Inner IPv4 packet -> (src, dst, proto, icmp_type, sport, dport, tcp_flags)."""
    b0 = data[p]
    _tot, frag, proto, s, d = _IP4(data, p)
    src, dst = inet_ntoa(s), inet_ntoa(d)
    q = p + (b0 & 15) * 4
    if frag & 0x1FFF:
        return (src, dst, proto, _NA, _NA, _NA, _NA)
    if proto == 6:
        sport, dport = _HH(data, q)
        return (src, dst, 6, _NA, sport, dport, TCP_FLAGS[data[q + 13]])
    if proto == 17:
        sport, dport = _HH(data, q)
        return (src, dst, 17, _NA, sport, dport, _NA)
    if proto == 1:
        return (src, dst, 1, data[q], _NA, _NA, _NA)
    return (src, dst, proto, _NA, _NA, _NA, _NA)


# ------------------------------------------------------------------------------------------------
# packet decoding: dpkt for everything else


def _slow(data: bytes, p: int, end: int, etype: int, vxlan_port: int) -> tuple:
    """Network-layer bytes data[p:end] of EtherType `etype` -> the same tuple as `_decode`."""
    import dpkt

    none = _NONE
    buf = data[p:end]
    try:
        while etype in (0x8100, 0x88A8) and len(buf) >= 4:  # VLAN tags
            etype = struct.unpack_from("!H", buf, 2)[0]
            buf = buf[4:]
        if etype == 0x0800:
            ip = dpkt.ip.IP(buf)
        elif etype == 0x86DD:
            ip = dpkt.ip6.IP6(buf)
        else:
            return none  # ARP and other non-IP frames
    except (dpkt.UnpackError, struct.error, ValueError):
        return none
    osrc, odst, oproto = _addr(ip.src), _addr(ip.dst), _proto(ip)
    encap, vni, inner = "none", _NA, ip
    l4 = ip.data
    if isinstance(l4, (dpkt.ip.IP, dpkt.ip6.IP6)):  # IPIP (proto 4) / 6in4 (41) / IPv6-in-IPv6
        encap, inner = "ipip", l4
        l4 = inner.data
    elif isinstance(l4, dpkt.udp.UDP) and l4.dport == vxlan_port and len(l4.data) >= 8 + 14 \
            and l4.data[0] & 0x08:
        encap, vni = "vxlan", int.from_bytes(l4.data[4:7], "big")
        try:
            eth = dpkt.ethernet.Ethernet(bytes(l4.data[8:]))
        except (dpkt.UnpackError, struct.error, ValueError):
            return (osrc, odst, oproto, encap, vni) + (_NA,) * 7
        inner = eth.data
        if not isinstance(inner, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return (osrc, odst, oproto, encap, vni) + (_NA,) * 7
        l4 = inner.data
    src, dst, proto = _addr(inner.src), _addr(inner.dst), _proto(inner)
    icmp_type = sport = dport = flags = _NA
    if isinstance(l4, (dpkt.tcp.TCP,)):
        sport, dport, flags = l4.sport, l4.dport, TCP_FLAGS[l4.flags & 0xFF]
    elif isinstance(l4, dpkt.udp.UDP):
        sport, dport = l4.sport, l4.dport
    elif isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        icmp_type = l4.type
    elif isinstance(l4, (bytes, bytearray)) and len(l4) >= 4 and proto in (6, 17):
        sport, dport = struct.unpack_from("!HH", l4)  # header cut by the snaplen
    elif isinstance(l4, (bytes, bytearray)) and len(l4) >= 1 and proto in (1, 58):
        icmp_type = l4[0]
    return (osrc, odst, oproto, encap, vni, src, dst, proto, icmp_type, sport, dport, flags)


def _addr(b: bytes) -> str:
    import socket

    return inet_ntoa(b) if len(b) == 4 else socket.inet_ntop(socket.AF_INET6, b)


def _proto(ip) -> int:
    return ip.p  # dpkt's IP6 sets `p` to the protocol after the extension headers
