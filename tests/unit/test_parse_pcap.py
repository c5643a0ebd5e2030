"""kanslab.parse.pcap on real `tcpdump -w` captures made in throwaway namespaces
(data/make_parse_fixtures.sh): `-i any` as Linux cooked v2 (tcpdump 4.99's default) and v1
(`-y LINUX_SLL`), and `-i veth0` (Ethernet), holding ARP, plain ICMP, IPIP (sent with a raw
socket, protocol 4), VXLAN (VNI 4096, port 4789) with ARP and ICMP inside, and a TCP connection.
The fast struct path is checked against dpkt packet by packet."""

import io
import socket
import struct

import dpkt
import pandas as pd
import pytest

from kanslab.parse.pcap import COLUMNS, _decode, _slow, pcap

from .fixtures import DATA, assert_parse_error


def parse_error(text):
    return assert_parse_error(pcap, text)


ETH, SLL, SLL2 = (DATA / "cap_veth0_eth.pcap", DATA / "cap_any_sll.pcap", DATA / "cap_any_sll2.pcap")
HEADERS = ["outer_src", "outer_dst", "outer_proto", "encap", "vni", "src", "dst", "proto", "icmp_type",
           "sport", "dport", "tcp_flags"]




@pytest.mark.parametrize("path,link,linktype", [(ETH, "ethernet", 1), (SLL, "linux_sll", 113),
                                                (SLL2, "linux_sll2", 276)])
def test_link_types_of_the_real_captures(path, link, linktype):
    assert struct.unpack_from("<I", path.read_bytes(), 20)[0] == linktype
    df = pcap(path)
    assert list(df.columns) == COLUMNS and (df["link"] == link).all()
    assert len(df) == sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(path.read_bytes())))
    assert df["time"].dtype == "float64" and df["time"].between(1.7e9, 2.2e9).all()
    assert df["time"].is_monotonic_increasing
    for c in ("outer_proto", "vni", "proto", "icmp_type", "sport", "dport"):
        assert str(df[c].dtype) == "Int64", c


@pytest.mark.parametrize("path", [ETH, SLL, SLL2])
def test_vxlan_packets_unwrapped(path):
    df = pcap(path)
    vx = df[df["encap"] == "vxlan"]
    assert len(vx) >= 6 and (vx["vni"] == 4096).all() and (vx["outer_proto"] == 17).all()
    assert set(vx["outer_src"]) == {"192.168.10.101", "192.168.10.254"}
    icmp = vx[vx["proto"] == 1]
    assert set(zip(icmp["src"], icmp["dst"], icmp["icmp_type"], strict=True)) == {
        ("172.16.250.1", "172.16.250.2", 8), ("172.16.250.2", "172.16.250.1", 0)}
    arp = vx[vx["proto"].isna()]  # ARP inside the tunnel: no inner IP
    assert len(arp) == 2 and arp["src"].isna().all()
    assert df.loc[df["encap"] != "vxlan", "vni"].isna().all()


@pytest.mark.parametrize("path", [ETH, SLL, SLL2])
def test_ipip_packets_unwrapped(path):
    df = pcap(path)
    ipip = df[df["encap"] == "ipip"]
    assert len(ipip) == 2 and (ipip["outer_proto"] == 4).all()
    assert (ipip["outer_src"] == "192.168.10.101").all() and (ipip["outer_dst"] == "192.168.10.254").all()
    assert (ipip["src"] == "172.16.158.1").all() and (ipip["dst"] == "172.16.34.5").all()
    assert (ipip["proto"] == 1).all() and (ipip["icmp_type"] == 8).all() and ipip["vni"].isna().all()
    # the far end has no ipip module: it answers "protocol 4 unreachable" (ICMP type 3), unwrapped
    unreach = df[(df["outer_src"] == "192.168.10.254") & (df["icmp_type"] == 3)]
    assert len(unreach) == 2 and (unreach["encap"] == "none").all()


@pytest.mark.parametrize("path", [ETH, SLL, SLL2])
def test_plain_icmp_tcp_flags_and_arp(path):
    df = pcap(path)
    plain = df[(df["encap"] == "none") & (df["outer_src"] == "192.168.10.101") & (df["icmp_type"] == 8)]
    assert len(plain) == 2 and (plain["src"] == plain["outer_src"]).all() and (plain["proto"] == 1).all()
    tcp = df[df["proto"] == 6]
    assert tcp["tcp_flags"].tolist()[:4] == ["S", "SA", "A", "PA"]
    assert "FA" in tcp["tcp_flags"].tolist()
    assert (tcp.iloc[0]["sport"], tcp.iloc[0]["dport"]) == (tcp.iloc[1]["dport"], 8080)
    assert df.loc[df["proto"] != 6, "tcp_flags"].isna().all()
    arp = df[df["outer_proto"].isna()]
    assert len(arp) >= 2 and (arp["encap"] == "none").all() and arp["src"].isna().all()


def test_cooked_v1_and_v2_give_the_same_rows():
    v1, v2 = pcap(SLL), pcap(SLL2)
    pd.testing.assert_frame_equal(v1[HEADERS], v2[HEADERS])
    assert ((v2["length"] - v1["length"]) == 4).all()  # SLL2's header is 4 bytes longer


def test_fast_path_equals_dpkt_on_every_real_packet():
    for path, code, hdr in [(ETH, 1, 14), (SLL, 113, 16), (SLL2, 276, 20)]:
        for _ts, buf in dpkt.pcap.Reader(io.BytesIO(path.read_bytes())):
            etype = struct.unpack_from("!H", buf, {1: 12, 113: 14, 276: 0}[code])[0]
            fast = _decode(buf, 0, len(buf), code, 4789)
            slow = _slow(buf, hdr, len(buf), etype, 4789)
            assert fast == slow, (path.name, buf.hex())


def test_pcapng_nanosecond_and_big_endian_files_read_the_same():
    ref = pcap(ETH)
    records = list(dpkt.pcap.Reader(io.BytesIO(ETH.read_bytes())))
    ng = io.BytesIO()
    w = dpkt.pcapng.Writer(ng, linktype=1)
    for ts, buf in records:
        w.writepkt(buf, ts=ts)
    got = pcap(ng.getvalue())
    pd.testing.assert_frame_equal(got.drop(columns=["time"]), ref.drop(columns=["time"]))
    assert (got["time"] - ref["time"]).abs().max() < 1e-5

    nano = io.BytesIO()
    w = dpkt.pcap.Writer(nano, linktype=1, nano=True)
    for ts, buf in records:
        w.writepkt(buf, ts=ts)
    got = pcap(nano.getvalue())
    pd.testing.assert_frame_equal(got.drop(columns=["time"]), ref.drop(columns=["time"]))
    assert (got["time"] - ref["time"]).abs().max() < 1e-5

    raw = ETH.read_bytes()
    big = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", raw, 0)))
    off = 24
    while off < len(raw):
        hdr = struct.unpack_from("<IIII", raw, off)
        big += struct.pack(">IIII", *hdr) + raw[off + 16:off + 16 + hdr[2]]
        off += 16 + hdr[2]
    pd.testing.assert_frame_equal(pcap(bytes(big)), ref)


def test_path_bytes_and_file_object_inputs():
    ref = pcap(ETH)
    pd.testing.assert_frame_equal(pcap(str(ETH)), ref)
    pd.testing.assert_frame_equal(pcap(ETH.read_bytes()), ref)
    with open(ETH, "rb") as f:
        pd.testing.assert_frame_equal(pcap(f), ref)


def test_truncated_file_and_snaplen():
    raw = ETH.read_bytes()
    assert len(pcap(raw[:-10])) == len(pcap(raw)) - 1  # tcpdump killed mid-write: last record dropped
    # every packet cut to 60 bytes (tcpdump -s 60): no exception, outer headers still read
    out, off = bytearray(raw[:24]), 24
    while off < len(raw):
        sec, frac, incl, orig = struct.unpack_from("<IIII", raw, off)
        cut = min(incl, 60)
        out += struct.pack("<IIII", sec, frac, cut, orig) + raw[off + 16:off + 16 + cut]
        off += 16 + incl
    df = pcap(bytes(out))
    full = pcap(raw)
    assert len(df) == len(full) and (df["length"] == full["length"]).all()
    ip = full["outer_proto"].notna()
    assert (df.loc[ip, "outer_src"] == full.loc[ip, "outer_src"]).all()
    vx = df[df["encap"] == "vxlan"]  # 60 bytes reach into the VXLAN header but not the inner IP
    assert (vx["vni"] == 4096).all() and vx["src"].isna().all()


# --- shapes the fast path hands to dpkt, built by hand ----------------------------------------------


def _ip4(src, dst, proto, payload, opts=b""):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), 1, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + opts
    return h + payload


def _eth(payload, etype=0x0800):
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", etype) + payload


def _file(frames, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(f), len(f)) + f
    return out


UDP_DNS = struct.pack("!HHHH", 5353, 53, 8, 0)
TCP_SYN = struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 0x50, 0x02, 1024, 0, 0)


def test_ipv6_vlan_options_fragments_and_raw_ip():
    ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, "fd00::1"),
                       dst=socket.inet_pton(socket.AF_INET6, "fd00::2"), nxt=58, hlim=64,
                       data=dpkt.icmp6.ICMP6(type=128, code=0, data=b"\0\0\0\0"))
    ip6.plen = len(ip6.data)
    frames = [
        _eth(bytes(ip6), 0x86DD),
        _eth(struct.pack("!HH", 100, 0x0800) + _ip4("10.0.0.1", "10.0.0.2", 17, UDP_DNS), 0x8100),
        _eth(_ip4("10.0.0.1", "10.0.0.2", 6, TCP_SYN, opts=b"\x01\x01\x01\x00")),  # IPv4 options
        _eth(_ip4("10.0.0.1", "10.0.0.2", 17, UDP_DNS)[:6] + b"\x00\x10" + _ip4("10.0.0.1", "10.0.0.2", 17,
                                                                                 UDP_DNS)[8:]),  # offset 16
    ]
    df = pcap(_file(frames))
    assert (df.loc[0, "src"], df.loc[0, "dst"], df.loc[0, "proto"], df.loc[0, "icmp_type"]) == \
        ("fd00::1", "fd00::2", 58, 128)
    assert (df.loc[1, "src"], df.loc[1, "sport"], df.loc[1, "dport"]) == ("10.0.0.1", 5353, 53)
    assert (df.loc[2, "proto"], df.loc[2, "dport"], df.loc[2, "tcp_flags"]) == (6, 443, "S")
    assert df.loc[3, "proto"] == 17 and pd.isna(df.loc[3, "sport"])  # a later fragment has no ports
    raw = pcap(_file([_ip4("10.0.0.1", "10.0.0.2", 6, TCP_SYN), bytes(ip6)], linktype=101))
    assert raw["link"].tolist() == ["raw", "raw"] and raw["src"].tolist() == ["10.0.0.1", "fd00::1"]


def test_vxlan_port_parameter():
    df = pcap(ETH, vxlan_port=8472)  # Flannel's port: Calico's 4789 traffic is then plain UDP
    assert (df["encap"] != "vxlan").all()
    udp = df[df["outer_proto"] == 17]
    assert (udp["dport"] == 4789).all() and (udp["src"] == udp["outer_src"]).all()


def test_not_a_capture():
    e = parse_error(b"Kernel IP routing table\nDestination Gateway\n")
    assert "not a pcap" in str(e)
    parse_error(str(DATA / "real_route_n.txt"))
    parse_error(b"")
    e = parse_error(_file([b"\x00" * 20], linktype=105))  # 802.11
    assert "link type 105" in str(e)
    with pytest.raises(TypeError):
        pcap(12345)


def test_empty_capture_has_the_columns():
    df = pcap(_file([]))
    assert list(df.columns) == COLUMNS and len(df) == 0
