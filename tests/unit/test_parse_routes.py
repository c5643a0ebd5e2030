"""kanslab.parse route_n / ip_route on the seed's outputs, other people's Calico nodes (samples) and
real outputs made here in a throwaway namespace by data/make_parse_fixtures.sh (Calico-like
routes: `blackhole ... proto bird`, `onlink`, `proto 80`, `linkdown`, unreachable/prohibit, ECMP)."""

import json

import pandas as pd
import pytest

from kanslab.parse.routes import IP_ROUTE_COLUMNS, ROUTE_N_COLUMNS, ip_route, route_n

from .fixtures import assert_parse_error, real, sample

# --- the seed (course/seed-calico-networking-modes.txt), copied as shown --------------------------

SEED_IPIP = """\
route -n | egrep '(Destination|tunl0)'
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
172.16.8.128    192.168.20.100  255.255.255.192 UG    0      0        0 tunl0
172.16.46.0     192.168.10.102  255.255.255.192 UG    0      0        0 tunl0
172.16.228.64   192.168.10.101  255.255.255.192 UG    0      0        0 tunl0
"""
# Direct mode: the author marked the prefixes bold and wrote `ens5 혹은 enp0s8` ("ens5 or enp0s8")
SEED_DIRECT = """\
root@k8s-w1:~# route -n | egrep '(Destination|UG)'
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
**172.16.29.0**     192.168.100.10  255.255.255.192 UG    0      0        0 ens5 혹은 enp0s8
**172.16.46.0**     192.168.100.102 255.255.255.192 UG    0      0        0 ens5 혹은 enp0s8
**172.16.197.0**    192.168.100.103 255.255.255.192 UG    0      0        0 ens5 혹은 enp0s8
"""
# CrossSubnet: `grep UG` keeps no header; the author's comments follow `#`
SEED_CROSSSUBNET = """\
root@ip-172-20-63-146:~# route -n | grep UG
100.105.79.128  172.20.61.184   255.255.255.192 UG    0      0        0 ens5  # 노드간 같은 네트워크 대역 - Direct 모드
100.125.78.64   172.20.59.153   255.255.255.192 UG    0      0        0 ens5  # 노드간 같은 네트워크 대역 - Direct 모드
100.127.64.128  172.20.64.181   255.255.255.192 UG    0      0        0 tunl0 # 노드간 다른 네트워크 대역 - IPIP 모드
"""
SEED_IP_ROUTE_BIRD = """\
ip -c route | grep bird
10.1.1.0/24 via 192.168.10.254 dev enp0s8 proto bird
10.1.2.0/24 via 192.168.10.254 dev enp0s8 proto bird
"""


def test_seed_ipip_route_n_with_command_echo_and_no_title():
    df = route_n(SEED_IPIP)
    assert list(df.columns) == ROUTE_N_COLUMNS
    assert df["destination"].tolist() == ["172.16.8.128", "172.16.46.0", "172.16.228.64"]
    assert df["prefix"].tolist() == ["172.16.8.128/26", "172.16.46.0/26", "172.16.228.64/26"]
    assert (df["iface"] == "tunl0").all() and (df["flags"] == "UG").all()
    assert df["gateway"].tolist() == ["192.168.20.100", "192.168.10.102", "192.168.10.101"]
    assert df["metric"].dtype == "int64" and df["use"].tolist() == [0, 0, 0]


def test_seed_direct_route_n_once_the_authors_markup_is_removed():
    text = SEED_DIRECT.replace("**", "").replace(" 혹은 enp0s8", "")
    df = route_n(text)
    assert df["prefix"].tolist() == ["172.16.29.0/26", "172.16.46.0/26", "172.16.197.0/26"]
    assert (df["iface"] == "ens5").all()
    # as printed in the seed it is not route output: the error names the line
    e = assert_parse_error(route_n, SEED_DIRECT)
    assert e.lineno == 3 and "172.16.29.0" in e.line


def test_seed_crosssubnet_headerless_rows_with_comments():
    df = route_n(SEED_CROSSSUBNET)
    assert df["iface"].tolist() == ["ens5", "ens5", "tunl0"]
    assert df["prefix"].tolist() == ["100.105.79.128/26", "100.125.78.64/26", "100.127.64.128/26"]


def test_seed_ip_route_grep_bird():
    df = ip_route(SEED_IP_ROUTE_BIRD)
    assert df["dst"].tolist() == ["10.1.1.0/24", "10.1.2.0/24"]
    assert (df["proto"] == "bird").all() and (df["dev"] == "enp0s8").all()
    assert (df["type"] == "unicast").all() and not df["onlink"].any()


# --- samples from other people's Calico nodes ------------------------------------------------------


def test_sample_bgp_node_blackhole_keeps_its_prefix():
    df = ip_route(sample("ip_route_calico__aadhilam_controlplane_bgp_grepbird.txt"))
    assert list(df.columns) == IP_ROUTE_COLUMNS
    bh = df[df["type"] == "blackhole"]
    assert bh["dst"].tolist() == ["192.168.69.0/26"] and bh["proto"].tolist() == ["bird"]
    assert bh["gateway"].isna().all() and bh["dev"].isna().all()
    assert (df[df["type"] == "unicast"]["gateway"] == "10.10.10.1").all()


def test_sample_vxlan_onlink_and_proto_80():
    df = ip_route(sample("ip_route_calico__aadhilam_worker3_vxlan_grep26.txt"))
    vx = df[df["dev"] == "vxlan.calico"]
    assert len(vx) == 3 and vx["onlink"].all() and vx["proto"].isna().all()
    assert df.loc[df["type"] == "blackhole", "proto"].tolist() == ["80"]  # kept as printed


def test_sample_crosssubnet_node_trailing_spaces_and_pod_routes():
    df = ip_route(sample("ip_route_calico__ddella_vxlan_proto80.txt"))
    assert len(df) == 10
    assert df.loc[0, "dst"] == "default" and df.loc[0, "proto"] == "static"
    pods = df[df["dev"].fillna("").str.startswith("cali")]
    assert pods["dst"].tolist() == ["10.255.74.67", "10.255.74.68", "10.255.74.69", "10.255.74.70"]
    assert (pods["scope"] == "link").all()
    assert df.loc[df["dst"] == "192.168.13.0/24", "src"].item() == "192.168.13.30"
    assert df["onlink"].sum() == 3 and set(df.loc[df["onlink"], "proto"]) == {"80"}


# --- real outputs made here -------------------------------------------------------------------------


def test_real_route_n_blackhole_pod_and_reject_rows():
    df = route_n(real("real_route_n.txt"))
    bh = df[df["destination"] == "172.16.158.0"].iloc[0]
    assert (bh["iface"], bh["flags"], bh["prefix"]) == ("*", "U", "172.16.158.0/24")
    pod = df[df["iface"] == "calia1b2c3d4e5f"].iloc[0]
    assert (pod["flags"], pod["prefix"]) == ("UH", "172.16.158.1/32")
    rej = df[df["flags"] == "!"]
    assert rej["prefix"].tolist() == ["172.16.200.0/24", "172.16.201.0/24"]
    assert (rej["gateway"] == "-").all() and rej["ref"].isna().all()
    assert df.loc[df["destination"] == "10.1.1.0", "metric"].item() == 100
    assert df.loc[df["destination"] == "0.0.0.0", "prefix"].item() == "0.0.0.0/0"


def test_real_netstat_rn_uses_its_own_headers():
    df = route_n(real("real_netstat_rn.txt"))
    assert list(df.columns) == ["destination", "gateway", "genmask", "flags", "mss", "window", "irtt",
                                "iface", "prefix"]
    assert len(df) == 12 and df["mss"].dropna().eq(0).all()


@pytest.mark.parametrize("text", [SEED_IPIP, SEED_CROSSSUBNET], ids=["ipip", "crosssubnet"])
def test_fast_path_equals_jc(text):
    pd.testing.assert_frame_equal(route_n(text, engine="fast"), route_n(text, engine="jc"))


@pytest.mark.parametrize("name", ["real_route_n.txt", "real_netstat_rn.txt"])
def test_fast_path_equals_jc_on_real_tables(name):
    pd.testing.assert_frame_equal(route_n(real(name), engine="fast"), route_n(real(name), engine="jc"))


ROUTE_NEE = """\
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface    MSS   Window irtt
0.0.0.0         192.0.2.1       0.0.0.0         UG    0      0        0 eth0     0     0      0
192.0.2.0       0.0.0.0         255.255.255.0   U     0      0        0 eth0     0     0      0
"""
ROUTE_N_INET6 = """\
Kernel IPv6 routing table
Destination                    Next Hop                   Flag Met Ref  Use If
fd00::/64                      ::                         U    256 1      0 eth0
::/0                           fd00::1                    UG   1024 2      0 eth0
::/0                           ::                         !n   -1  1      0 lo
"""


def test_route_nee_and_ipv6_layouts_go_through_jc():
    df = route_n(ROUTE_NEE)
    assert list(df.columns)[:8] == ROUTE_N_COLUMNS[:8] and {"mss", "window", "irtt"} < set(df.columns)
    v6 = route_n(ROUTE_N_INET6)
    assert list(v6.columns) == ["destination", "next_hop", "flags", "metric", "ref", "use", "iface", "prefix"]
    assert v6["metric"].tolist() == [256, 1024, -1] and v6["prefix"].tolist()[0] == "fd00::/64"


def test_real_ip_route_text_colour_and_json_agree():
    text = ip_route(real("real_ip_route.txt"))
    colour = ip_route(real("real_ip_c_route.txt"))
    js = ip_route(real("real_ip_j_route.json"))
    assert "\x1b[" in real("real_ip_c_route.txt")
    pd.testing.assert_frame_equal(text, colour)
    pd.testing.assert_frame_equal(text, js)


def test_real_ip_route_values():
    df = ip_route(real("real_ip_route.txt"))
    row = df.set_index("dst")
    assert row.loc["172.16.158.0/24", "type"] == "blackhole" and row.loc["172.16.158.0/24", "proto"] == "bird"
    assert row.loc["172.16.34.0/24", "onlink"] and row.loc["172.16.34.0/24", "gateway"] == "192.168.10.254"
    assert row.loc["172.16.116.0/24", "proto"] == "80" and row.loc["172.16.116.0/24", "onlink"]
    assert row.loc["172.16.184.0/24", "linkdown"] and not row.loc["172.16.184.0/24", "onlink"]
    assert row.loc["172.16.158.1", "dev"] == "calia1b2c3d4e5f"  # a bare host address stays as printed
    assert row.loc["172.16.200.0/24", "type"] == "unreachable" and row.loc["172.16.201.0/24", "type"] == "prohibit"
    assert row.loc["10.1.1.0/24", "metric"] == 100 and pd.isna(row.loc["default", "metric"])
    # ECMP: one row per nexthop
    ecmp = df[df["dst"] == "10.1.2.0/24"]
    assert ecmp["gateway"].tolist() == ["192.168.10.254", "192.168.10.253"] and (ecmp["proto"] == "bird").all()
    assert df["onlink"].dtype == bool and df["linkdown"].dtype == bool
    assert str(df["metric"].dtype) == "Int64"


def test_real_ip_numeric_output_keeps_numbers_but_names_types():
    df = ip_route(real("real_ip_N_route.txt"))
    named = ip_route(real("real_ip_route.txt"))
    assert df["type"].tolist() == named["type"].tolist()  # `6 172.16.158.0/24` is a blackhole
    assert df.loc[df["dst"] == "172.16.158.0/24", "proto"].item() == "12"  # bird by number
    assert df.loc[df["dst"] == "172.16.158.1", "scope"].item() == "253"


def test_real_ip_route_table_all_local_and_broadcast():
    df = ip_route(real("real_ip_route_table_all.txt"))
    local = df[df["table"] == "local"]
    assert set(local["type"]) == {"local", "broadcast"}
    assert local.loc[local["dst"] == "127.0.0.0/8", "scope"].item() == "host"


# --- liberal about the text around and inside ------------------------------------------------------


def test_route_n_ignores_colours_crlf_prompts_and_trailing_chatter():
    text = ("\x1b[01;32mroot@k8s-w1\x1b[00m:~# route -n\r\n" + real("real_route_n.txt").replace("\n", "\r\n")
            + "\r\nroot@k8s-w1:~# date\r\nFri Nov 27 06:22:04 UTC 2026\r\n\r\n")
    pd.testing.assert_frame_equal(route_n(text), route_n(real("real_route_n.txt")))


def test_route_n_watch_header():
    text = "Every 2.0s: route -n            k8s-w1: Fri Nov 27 06:22:04 2026\n\n" + real("real_route_n.txt")
    assert len(route_n(text)) == 12


def test_ip_route_old_iproute2_double_spaces_trailing_spaces_and_prompt():
    text = ("[root@centos7 ~]# ip route\n"
            "default via 10.0.2.2 dev eth0  proto dhcp  metric 100  \n"
            "blackhole 192.168.0.0/26  proto bird  \n"
            "192.168.0.2 dev cali12345678901  scope link  \n"
            "10.0.2.0/24 dev eth0  proto kernel  scope link  src 10.0.2.15  metric 100  \n")
    df = ip_route(text)
    assert df["dst"].tolist() == ["default", "192.168.0.0/26", "192.168.0.2", "10.0.2.0/24"]
    assert df["metric"].tolist()[0] == 100 and df.loc[1, "type"] == "blackhole"


def test_ip_route_json_pretty_and_via_inet6():
    routes = [{"dst": "default", "via": {"family": "inet6", "host": "fe80::1"}, "dev": "eth0", "flags": []},
              {"type": "blackhole", "dst": "172.16.1.0/26", "protocol": "bird", "flags": []}]
    df = ip_route("$ ip -j -p route\n" + json.dumps(routes, indent=4) + "\n")
    assert df["gateway"].tolist()[0] == "fe80::1" and df["type"].tolist() == ["unicast", "blackhole"]
    text = ip_route("default via inet6 fe80::1 dev eth0\nblackhole 172.16.1.0/26 proto bird\n")
    pd.testing.assert_frame_equal(df, text)


def test_ip_route_get_with_cache_line():
    df = ip_route("172.16.34.5 via 192.168.10.254 dev eth1 src 192.168.10.101 uid 0 \n    cache \n")
    assert len(df) == 1 and df.loc[0, "src"] == "192.168.10.101"


# --- not this command's output ----------------------------------------------------------------------


@pytest.mark.parametrize("other", ["real_ip_route.txt", "real_iptables_save.txt", "real_ping.txt",
                                   "real_ip_j_route.json"])
def test_route_n_rejects_other_output(other):
    e = assert_parse_error(route_n, real(other))
    assert e.line is not None or "no routing table" in str(e)


@pytest.mark.parametrize("other", ["real_route_n.txt", "real_iptables_save.txt", "real_ping.txt",
                                   "real_netstat_rn.txt"])
def test_ip_route_rejects_other_output(other):
    e = assert_parse_error(ip_route, real(other))
    assert e.line is not None


def test_ip_route_rejects_bird_and_calicoctl_samples():
    assert_parse_error(ip_route, sample("birdcl_show_route__ddella_vxlan_4nodes.txt"))
    assert_parse_error(ip_route, sample("calicoctl_ipam_show_blocks__ddella_1pool.txt"))
    assert_parse_error(route_n, sample("calicoctl_ipam_show_blocks__ddella_1pool.txt"))


def test_empty_text_raises():
    assert_parse_error(route_n, "")
    assert_parse_error(ip_route, "\n\n")
    assert_parse_error(ip_route, "[]\n" + "garbage\n")


def test_route_n_names_a_short_row_even_when_another_row_makes_up_the_count():
    lines = real("real_route_n.txt").splitlines()
    lines[4] = lines[4].rsplit(None, 1)[0]  # 7 words
    lines[7] = lines[7] + " extra"  # 9 words: the total still divides by 8
    e = assert_parse_error(route_n, "\n".join(lines))
    assert e.lineno == 5 and e.line == lines[4]


def test_route_n_bad_cells_name_their_line():
    text = real("real_route_n.txt").replace("255.255.255.255", "255.0.255.0")
    e = assert_parse_error(route_n, text)
    assert "genmask" in str(e) and "calia1b2c3d4e5f" in e.line
    e = assert_parse_error(route_n, real("real_route_n.txt").replace(" 100 ", " x00 "))
    assert "metric" in str(e) and e.line.startswith("10.1.1.0")


def test_ip_route_unknown_word_names_the_line():
    e = assert_parse_error(ip_route, "default via 10.0.0.1 dev eth0\n10.0.0.0/8 frobnicate 3\n")
    assert e.lineno == 2 and "frobnicate" in str(e)


def test_header_only_and_empty_json_give_empty_typed_frames():
    df = route_n("root@k8s-w1:~# route -n | egrep '(Destination|tunl0)'\n"
                 "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n")
    assert list(df.columns) == ROUTE_N_COLUMNS and len(df) == 0 and df["metric"].dtype == "int64"
    js = ip_route("[]\n")
    assert list(js.columns) == IP_ROUTE_COLUMNS and len(js) == 0


def test_bytes_input_and_bare_trailing_prompt():
    assert len(route_n(real("real_route_n.txt").encode() + b"root@k8s-w1:~# ")) == 12
    assert len(ip_route(real("real_ip_route.txt").encode() + b"root@k8s-w1:~# ")) == 13
