"""kanslab.parse bird_* parsers on real BIRD 1.6 output: calico-node samples, an IXP route server,
and BIRD 1.6.8 run here against FRR (plain `birdc`, `birdc -v` and the raw control socket)."""


import pandas as pd
import pytest

from kanslab.parse.bird import bird_protocols, bird_routes

from .fixtures import assert_parse_error, sample

SEED_NODE_STATUS = """\
IPv4 BGP status
+----------------+-------------------+-------+----------+-------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+----------------+-------------------+-------+----------+-------------+
| 192.168.20.100 | node-to-node mesh | up    | 10:03:45 | Established |
+----------------+-------------------+-------+----------+-------------+
"""
SEED_ROUTE_N = """\
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
172.16.8.128    192.168.20.100  255.255.255.192 UG    0      0        0 tunl0
"""

# ------------------------------------------------------------------------------------------------
# show protocols


def test_protocols_calico_show_protocols_all_skips_details():
    df = bird_protocols(sample("birdcl_show_protocols_all__ddella_calico_mesh.txt"))
    assert list(df.columns) == ["name", "proto", "table", "state", "since", "info"]
    assert df["name"].tolist() == ["static1", "kernel1", "device1", "direct1",
                                   "Mesh_10_250_12_180", "Mesh_10_250_12_185", "Mesh_10_250_12_187"]
    bgp = df[df["proto"] == "BGP"]
    assert (bgp["info"] == "Established").all() and (bgp["state"] == "up").all()
    assert df.loc[0, "info"] == "" and df.loc[0, "since"] == "18:12:19" and df.loc[0, "table"] == "master"


def test_protocols_route_server_long_names_dates_and_errors():
    df = bird_protocols(sample("birdcl_show_protocols__birdwatcher_bird165_routeserver.txt")).set_index("name")
    assert len(df) == 27
    assert df.loc["pb_0097_as3856", "table"] == "t_0097_as3856"  # a long name shifts the columns
    assert df.loc["pb_0097_as3856", "since"] == "2019-02-15"
    assert df.loc["pp_0097_as3856", "info"] == "=> t_0097_as3856"
    assert df.loc["direct1", "since"] == "2019-02-19 16:17:59" and df.loc["direct1", "state"] == "down"
    assert df.loc["direct1", "info"] == ""
    assert df.loc["R194_205", "state"] == "start"
    assert df.loc["R194_205", "info"] == "Idle BGP Error: Bad peer AS"
    assert df.loc["R_janus1", "info"] == "Idle"
    assert df.loc["C42_pch_radb", "table"] == "Collector"


KANS_NAMES = ["kernel1", "device1", "direct1", "static1", "Mesh_192_168_20_100", "Global_192_168_10_254"]


@pytest.mark.parametrize("name", ["bird_show_protocols__kans_w1.txt", "bird_show_protocols__kans_w1_raw.txt",
                                  "bird_show_protocols__kans_w1_verbose.txt"])
def test_protocols_plain_raw_socket_and_verbose_agree(name):
    df = bird_protocols(sample(name))
    assert df["name"].tolist() == KANS_NAMES
    assert df["proto"].tolist() == ["Kernel", "Device", "Direct", "Static", "BGP", "BGP"]
    assert (df["state"] == "up").all()
    assert df["info"].tolist() == ["", "", "", "", "Established", "Established"]
    assert df["since"].str.fullmatch(r"\d\d:\d\d:\d\d").all()


def test_protocols_raw_socket_identical_to_birdc():
    raw = sample("bird_show_protocols__kans_w1_raw.txt")
    assert raw.startswith("0001 BIRD 1.6.8 ready.") and "\n device1" in raw and "\n0000" in raw
    plain = "\n".join(line[5:] if line[:4].isdigit() else line[1:] for line in raw.splitlines()
                      if line[:4] not in ("0001", "0000"))
    assert bird_protocols(raw).equals(bird_protocols(plain))


def test_protocols_peer_down():
    df = bird_protocols(sample("bird_show_protocols__kans_w1_peerdown.txt")).set_index("name")
    assert df.loc["Mesh_192_168_20_100", "state"] == "start"
    assert df.loc["Mesh_192_168_20_100", "info"] in ("Active Socket: Connection refused", "Connect")
    assert df.loc["Global_192_168_10_254", "info"] == "Established"


def test_protocols_terminal_noise():
    raw = sample("birdcl_show_protocols_all__ddella_calico_mesh.txt")
    noisy = ("\x1b[1;32mroot@k8s-m\x1b[0m:~# kubectl exec -n calico-system calico-node-6d8lc -- birdcl -s "
             "/var/run/calico/bird.ctl show protocols all\n"
             + raw.replace("Established", "\x1b[32mEstablished\x1b[0m") + "\nThu Nov 27 06:02:13 KST 2026\n\n")
    assert bird_protocols(noisy.replace("\n", "\r\n")).equals(bird_protocols(raw))


def test_protocols_bird2_capitalised_header_and_ipv6_peer():
    text = """\
BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2024-09-08 16:30:31
Node_fd00__1 BGP        ---        up     2024-09-08 16:30:35  Established
"""
    df = bird_protocols(text)
    assert df["name"].tolist() == ["device1", "Node_fd00__1"]
    assert df.loc[1, "since"] == "2024-09-08 16:30:35" and df.loc[1, "info"] == "Established"


def test_protocols_rejects_other_output():
    e = assert_parse_error(bird_protocols, SEED_NODE_STATUS, "bird_protocols")
    assert e.lineno == 1
    assert_parse_error(bird_protocols, SEED_ROUTE_N, "bird_protocols")
    assert_parse_error(bird_protocols, sample("birdcl_show_route__ddella_vxlan_4nodes.txt"), "bird_protocols")
    e = assert_parse_error(bird_protocols, "0001 BIRD 1.6.8 ready.\n9001 syntax error, unexpected END\n",
                           "bird_protocols")
    assert e.lineno == 2
    bad = sample("bird_show_protocols__kans_w1.txt").replace("static1  Static   master   up", "static1  Static   master   sideways")
    e = assert_parse_error(bird_protocols, bad, "bird_protocols")
    assert "sideways" in e.line and e.lineno == 6


# ------------------------------------------------------------------------------------------------
# show route


def test_routes_vxlan_worker_sample():
    df = bird_routes(sample("birdcl_show_route__ddella_k8sworker3_vxlan.txt"))
    assert list(df.columns) == ["prefix", "gateway", "iface", "type", "protocol", "since", "from_peer", "best",
                                "preference", "igp_metric", "as_path", "origin"]
    assert len(df) == 25
    paths = df[df["prefix"] == "10.255.153.64/26"]
    assert len(paths) == 5 and paths["best"].sum() == 1
    best = paths[paths["best"]].iloc[0]
    assert best["protocol"] == "Mesh_192_168_13_30" and best["from_peer"] == "192.168.13.30"
    assert best["gateway"] == "192.168.13.36" and best["iface"] == "ens33"
    assert best["preference"] == 100 and best["igp_metric"] == 0
    assert best["as_path"] == "" and best["origin"] == "i"
    kernel = paths[paths["protocol"] == "kernel1"].iloc[0]
    assert kernel["preference"] == 10 and not kernel["best"] and pd.isna(kernel["origin"])
    block = df[df["prefix"] == "10.255.18.128/26"]
    assert block["type"].tolist() == ["blackhole", "blackhole"]
    assert block["protocol"].tolist() == ["static1", "kernel1"] and block["best"].tolist() == [True, False]
    assert pd.isna(block["gateway"]).all() and pd.isna(block["iface"]).all()
    pod = df[df["prefix"] == "10.255.18.136/32"].iloc[0]
    assert pod["iface"] == "cali8e8336b596b" and pd.isna(pod["gateway"]) and pod["type"] == "unicast"
    assert df.loc[0, "prefix"] == "0.0.0.0/0" and df.loc[0, "since"] == "17:48:57"


def test_routes_external_peer_as_path():
    df = bird_routes(sample("birdcl_show_route__ddella_vxlan_4nodes.txt"))
    assert len(df) == 33
    ext = df[df["protocol"] == "Node_10_250_12_1"]
    assert (ext["as_path"] == "65000").all() and (ext["origin"] == "?").all()
    assert df[df["prefix"] == "10.250.12.0/24"]["best"].tolist() == [True, False]
    svc = df[df["prefix"] == "10.96.0.0/12"]
    assert svc["type"].tolist() == ["blackhole", "unicast", "unicast", "unicast"]
    assert df["igp_metric"].dtype == "Int64" and df["preference"].dtype == "int64"


def test_routes_kans_node_unknown_igp_metric():
    df = bird_routes(sample("bird_show_route__kans_w1.txt"))
    row = df[df["prefix"] == "172.16.34.0/24"].iloc[0]
    assert row["protocol"] == "Mesh_192_168_20_100" and row["from_peer"] == "192.168.20.100"
    assert row["best"] and pd.isna(row["igp_metric"]) and row["preference"] == 100
    idc = df[df["protocol"] == "Global_192_168_10_254"]
    assert sorted(idc["prefix"]) == ["10.1.1.0/24", "10.1.2.0/24"]
    assert (idc["gateway"] == "192.168.10.254").all() and (idc["igp_metric"] == 0).all()
    assert df[df["prefix"] == "10.200.1.0/24"]["best"].tolist() == [True, False]


def test_routes_peer_down_drops_its_routes():
    df = bird_routes(sample("bird_show_route__kans_w1_peerdown.txt"))
    assert "Mesh_192_168_20_100" not in set(df["protocol"])
    assert "172.16.34.0/24" not in set(df["prefix"])
    assert len(df) == 6 and df["best"].all()


def test_routes_raw_codes_ipv6_multipath_and_details():
    text = """\
0001 BIRD v0.3.3+birdv1.6.8 ready.
1007-fd00:10:244:1::/122 via fd00::101 on eth0 [Mesh_fd00__101 10:00:00 from fd00::102] * (100/0) [i]
 2001:db8::/64      unreachable [static1 10:00:00] * (200)
 10.9.0.0/24        prohibited [static1 2024-09-08] * (200)
 10.8.0.0/24        multipath [static2 10:00:01] * (200)
 \tvia 192.168.10.1 on eth1 weight 1
 \tvia 192.168.10.2 on eth1 weight 1
1008-\tType: static unicast univ
0000
"""
    df = bird_routes(text)
    assert df["prefix"].tolist() == ["fd00:10:244:1::/122", "2001:db8::/64", "10.9.0.0/24", "10.8.0.0/24",
                                     "10.8.0.0/24"]
    assert df.loc[0, "gateway"] == "fd00::101" and df.loc[0, "from_peer"] == "fd00::102"
    assert df["type"].tolist() == ["unicast", "unreachable", "prohibit", "unicast", "unicast"]
    assert df.loc[2, "since"] == "2024-09-08"
    assert df.loc[3:, "gateway"].tolist() == ["192.168.10.1", "192.168.10.2"]


def test_routes_greeting_only_is_empty():
    df = bird_routes("BIRD v0.3.3+birdv1.6.8 ready.\n")
    assert df.empty and "best" in df.columns


def test_routes_terminal_noise():
    raw = sample("birdcl_show_route__ddella_k8sworker3_vxlan.txt")
    noisy = ("[root@k8sworker3 /]# birdcl -s /var/run/calico/bird.ctl show route\n"
             + raw.replace("blackhole", "\x1b[31mblackhole\x1b[0m") + "\nroot@k8sworker3:~# date\nThu Nov 27 06:02:13 KST 2026\n")
    assert bird_routes(noisy.replace("\n", "\r\n")).equals(bird_routes(raw))


def test_routes_rejects_other_output():
    e = assert_parse_error(bird_routes, sample("ip_route_calico__ddella_vxlan_proto80.txt"), "bird_routes")
    assert e.line.startswith("10.255.18.128/26 via")
    assert_parse_error(bird_routes, sample("bird_show_protocols__kans_w1.txt"), "bird_routes")
    assert_parse_error(bird_routes, SEED_ROUTE_N, "bird_routes")
    assert_parse_error(bird_routes, SEED_NODE_STATUS, "bird_routes")
