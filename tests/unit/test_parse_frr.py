"""kanslab.parse frr_* parsers: real FRR 8.4.4 JSON and text captured with the seed's router config
(tests/unit/data/frr_*__kans_router*), and FRR's own documentation / topotest samples."""

import json
import re

import pandas as pd
import pytest

from kanslab.parse.frr import frr_bgp_summary, frr_routes

from .fixtures import assert_parse_error, sample

ROUTE_COLUMNS = ["prefix", "protocol", "selected", "installed", "distance", "metric", "nexthop", "interface",
                 "uptime", "info"]

# ------------------------------------------------------------------------------------------------
# show ip route [json]


def test_routes_kans_router_json():
    df = frr_routes(sample("frr_show_ip_route__kans_router.json"))
    assert list(df.columns) == ROUTE_COLUMNS
    assert len(df) == 8
    ecmp = df[df["prefix"] == "10.200.1.0/24"]
    assert ecmp["nexthop"].tolist() == ["192.168.10.101", "192.168.20.100"]
    assert ecmp["interface"].tolist() == ["r-n1", "r-n2"]
    assert (ecmp["protocol"] == "bgp").all() and ecmp["selected"].all() and ecmp["installed"].all()
    assert (ecmp["distance"] == 200).all() and (ecmp["metric"] == 0).all()
    block = df[df["prefix"] == "172.16.158.0/24"].iloc[0]
    assert block["nexthop"] == "192.168.10.101" and block["interface"] == "r-n1"
    idc = df[df["prefix"] == "10.1.1.0/24"].iloc[0]
    assert idc["protocol"] == "connected" and pd.isna(idc["nexthop"]) and idc["interface"] == "loop1"
    assert idc["distance"] == 0 and re.fullmatch(r"\d\d:\d\d:\d\d", idc["uptime"])
    assert df["selected"].dtype == bool and df["distance"].dtype == "Int64"


def test_routes_kans_router_text_matches_json():
    # captured one after the other: everything but the uptimes must agree
    from_json = frr_routes(sample("frr_show_ip_route__kans_router.json")).drop(columns="uptime")
    from_text = frr_routes(sample("frr_show_ip_route__kans_router.txt")).drop(columns="uptime")
    key = ["prefix", "nexthop"]
    a = from_json.sort_values(key, na_position="first").reset_index(drop=True)
    b = from_text.sort_values(key, na_position="first").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_routes_json_after_prompt_and_echo():
    body = sample("frr_show_ip_route__kans_router.json")
    noisy = "root@router:~# vtysh -c 'show ip route json'\r\n" + body.replace("\n", "\r\n")
    assert frr_routes(noisy).equals(frr_routes(body))


def test_routes_ecmp16_continuation_lines():
    df = frr_routes(sample("vtysh_show_ip_route__frrdoc_zebra_ecmp16.txt"))
    assert len(df) == 16
    assert (df["prefix"] == "4.4.4.4/32").all() and (df["protocol"] == "sharp").all()
    assert df["nexthop"].tolist() == [f"192.168.161.{i}" for i in range(1, 17)]
    assert df["installed"].all() and df["selected"].all()
    assert (df["distance"] == 150).all() and (df["uptime"] == "00:00:02").all()


def test_routes_ospf_labels_and_unselected_paths():
    df = frr_routes(sample("vtysh_show_ip_route__frrdoc_ldpd_ospf_labels.txt"))
    assert len(df) == 11
    first = df.iloc[0]
    assert (first["protocol"], first["distance"], first["metric"]) == ("ospf", 110, 120)
    assert first["info"] == "label 16" and first["nexthop"] == "10.115.0.1" and first["interface"] == "eth2"
    assert df.iloc[1]["info"] == "label implicit-null"
    lo = df[df["prefix"] == "3.3.3.3/32"]
    assert lo["protocol"].tolist() == ["ospf", "connected"]
    assert lo["selected"].tolist() == [False, True] and lo["installed"].tolist() == [False, True]
    assert lo.iloc[0]["info"] == "onlink" and lo.iloc[0]["interface"] == "loopback1"
    assert lo.iloc[1]["distance"] == 0  # connected routes print no [distance/metric]


def test_routes_recursive_local_linkdown():
    df = frr_routes(sample("vtysh_show_ip_route__frrdoc_zebra_local_recursive.txt"))
    assert df["protocol"].tolist() == ["kernel", "static", "static", "kernel", "local"]
    rec = df[df["prefix"] == "4.5.6.7/32"]
    assert rec["info"].tolist() == ["recursive", ""]
    assert rec["installed"].tolist() == [False, True]  # only the resolved nexthop is in the FIB
    assert pd.isna(rec.iloc[0]["interface"]) and rec.iloc[1]["interface"] == "enp13s0"
    assert df.iloc[0]["metric"] == 100 and df.iloc[0]["nexthop"] == "192.168.119.1"
    assert df.iloc[3]["info"] == "linkdown" and df.iloc[3]["interface"] == "virbr2"


def test_routes_old_legend_l_is_ldp():
    df = frr_routes(sample("vtysh_show_ip_route__frrdevdoc_ldp_old.txt"))
    assert df["protocol"].tolist() == ["ldp", "ldp"]
    assert df["info"].tolist() == ["label 24000", "label 24001"]
    assert df["interface"].tolist() == ["eth2", "eth2"] and df["uptime"].isna().all()


def test_routes_grep_output_without_legend_and_vtysh_prompt():
    text = ("router# show ip route\n"
            "B>* 10.200.1.0/24 [200/0] via 192.168.10.101, r-n1, weight 1, 00:26:07\n"
            "  *                       via 192.168.20.100, r-n2, weight 1, 00:26:07\n"
            "B>* 172.16.34.0/24 [200/0] via 192.168.20.100, r-n2, weight 1, 1d02h03m\n"
            "B   2001:db8::/64 [200/0] via fe80::1, r-n1 inactive, weight 1, 00:00:05\n")
    df = frr_routes(text)
    assert df["nexthop"].tolist() == ["192.168.10.101", "192.168.20.100", "192.168.20.100", "fe80::1"]
    assert df.iloc[2]["uptime"] == "1d02h03m"
    assert not df.iloc[3]["selected"] and df.iloc[3]["info"] == "inactive"


def test_routes_text_terminal_noise():
    raw = sample("frr_show_ip_route__kans_router.txt")
    noisy = ("\x1b[1mroot@router\x1b[0m:~# vtysh -c 'show ip route'\n" + raw.replace("B>*", "\x1b[32mB>*\x1b[0m")
             + "\nroot@router:~# date\nThu Nov 27 06:02:13 KST 2026\n").replace("\n", "\r\n")
    assert frr_routes(noisy).equals(frr_routes(raw))


def test_routes_legend_only_is_empty():
    legend = sample("frr_show_ip_route__kans_router.txt").split("\n\n")[0] + "\n\n"
    df = frr_routes(legend)
    assert df.empty and list(df.columns) == ROUTE_COLUMNS


def test_routes_rejects_other_output():
    e = assert_parse_error(frr_routes, sample("frr_show_bgp_summary__kans_router.txt"), "frr_routes")
    assert e.line == "IPv4 Unicast Summary (VRF default):"
    assert_parse_error(frr_routes, sample("vtysh_show_running_config__frrdevdoc_ospf.txt"), "frr_routes")
    assert_parse_error(frr_routes, sample("frr_show_bgp_summary__kans_router.json"), "frr_routes")
    assert_parse_error(frr_routes, sample("bird_show_route__kans_w1.txt"), "frr_routes")
    assert_parse_error(frr_routes, sample("ip_route_calico__ddella_vxlan_proto80.txt"), "frr_routes")
    e = assert_parse_error(frr_routes, '{"10.0.0.0/8": [ {"prefix": ', "frr_routes")
    assert e.lineno == 1


# ------------------------------------------------------------------------------------------------
# show bgp summary [json]

BGP_COLUMNS = ["neighbor", "v", "as", "msgrcvd", "msgsent", "tblver", "inq", "outq", "up_down", "state",
               "pfxrcd", "pfxsnt", "desc", "dynamic", "established", "peer_state", "afi"]


@pytest.mark.parametrize("name", ["frr_show_bgp_summary__kans_router", "frr_show_ip_bgp_summary__kans_router",
                                  "frr_show_bgp_ipv4_unicast_summary__kans_router"])
def test_bgp_summary_kans_router_json_and_text_agree(name):
    from_json = frr_bgp_summary(sample(name + ".json"))
    from_text = frr_bgp_summary(sample(name + ".txt"))
    assert list(from_json.columns) == BGP_COLUMNS
    assert from_json["neighbor"].tolist() == ["192.168.10.101", "192.168.20.100"]
    assert from_json["dynamic"].all() and from_json["established"].all()
    assert (from_json["as"] == 64512).all() and (from_json["pfxrcd"] == 2).all() and (from_json["pfxsnt"] == 2).all()
    assert (from_json["state"] == "Established").all()
    assert from_json["up_down"].str.fullmatch(r"\d\d:\d\d:\d\d").all()
    pd.testing.assert_frame_equal(from_json.drop(columns="up_down"), from_text.drop(columns="up_down"))


def test_bgp_summary_all_afi_form_names_the_afi():
    assert (frr_bgp_summary(sample("frr_show_bgp_summary__kans_router.json"))["afi"] == "ipv4_unicast").all()
    assert frr_bgp_summary(sample("frr_show_bgp_ipv4_unicast_summary__kans_router.json"))["afi"].isna().all()
    assert json.loads(sample("frr_show_bgp_summary__kans_router.json")).keys() == {"ipv4Unicast"}


def test_bgp_summary_static_neighbor_not_established():
    for suffix in (".json", ".txt"):
        df = frr_bgp_summary(sample("frr_show_bgp_summary__kans_router_connect" + suffix)).set_index("neighbor")
        spare = df.loc["192.168.10.200"]
        assert spare["state"] in ("Connect", "Active") and not spare["established"] and not spare["dynamic"]
        assert pd.isna(spare["pfxrcd"]) and spare["pfxsnt"] == 0
        assert spare["up_down"] == "never" and spare["desc"] == "idc-spare"
        assert df.loc["192.168.10.101", "dynamic"] and df.loc["192.168.10.101", "pfxrcd"] == 2
        assert pd.isna(df.loc["192.168.10.101", "desc"])


def test_bgp_summary_no_neighbors_is_empty():
    for suffix in (".json", ".txt"):
        df = frr_bgp_summary(sample("frr_show_bgp_summary__kans_router_empty" + suffix))
        assert df.empty and list(df.columns) == BGP_COLUMNS


def test_bgp_summary_policy_state():
    df = frr_bgp_summary(sample("vtysh_show_bgp_summary__frrdoc_policy.txt"))
    assert df["neighbor"].tolist() == ["192.168.0.2", "fe80:1::2222"]
    assert df["pfxrcd"].iloc[0] == 5 and pd.isna(df["pfxrcd"].iloc[1])
    assert df["peer_state"].tolist() == ["Policy", "Policy"]
    assert df["established"].all() and pd.isna(df["pfxsnt"]).all() and df["desc"].isna().all()
    assert (df["msgrcvd"] == [8, 9]).all() and df["afi"].tolist() == ["ipv4_unicast"] * 2


def test_bgp_summary_desc_software_version():
    df = frr_bgp_summary(sample("vtysh_show_bgp_summary__frrdoc_softwareversion.txt"))
    assert df["desc"].tolist() == ["FRRouting/8.5.1", "FRRouting/9.0", "FRRouting/9.1-dev-MyOwnFRRVersion-g3c8c08dcd9"]
    assert df["pfxrcd"].tolist() == [5, 5, 2] and df["pfxsnt"].tolist() == [12, 12, 10]
    assert df["tblver"].tolist() == [12, 12, 12] and df["msgsent"].tolist() == [22, 22, 31]


def test_bgp_summary_topotest_active_ipv6_neighbors():
    df = frr_bgp_summary(sample("vtysh_show_ip_bgp_summary__topotest_all_protocol_startup.txt"))
    assert df["neighbor"].tolist() == ["192.168.7.10", "192.168.7.20", "fc00:0:0:8::1000", "fc00:0:0:8::2000"]
    assert (df["state"] == "Active").all() and not df["established"].any()
    assert df["pfxrcd"].isna().all() and (df["pfxsnt"] == 0).all()
    assert df["as"].tolist() == [100, 200, 100, 200] and df.loc[3, "desc"] == "Client_Toto_default"
    assert df["afi"].isna().all()


def test_bgp_summary_wrapped_ipv6_neighbor_idle_admin_and_old_header():
    text = """\
BGP router identifier 192.168.10.254, local AS number 64512 vrf-id 0
BGP table version 7

Neighbor        V         AS MsgRcvd MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd
2001:db8:ffff:ffff::101
                4      64512       4       4        0    0    0 00:01:02            2
192.168.10.102  4      64512       0       0        0    0    0    never Idle (Admin)

Total number of neighbors 2
"""
    df = frr_bgp_summary(text)
    assert df["neighbor"].tolist() == ["2001:db8:ffff:ffff::101", "192.168.10.102"]
    assert df.loc[0, "pfxrcd"] == 2 and pd.isna(df.loc[0, "pfxsnt"])
    assert df.loc[1, "state"] == "Idle (Admin)" and df.loc[1, "peer_state"] == "Admin"
    assert not df.loc[1, "established"]


def test_bgp_summary_terminal_noise():
    raw = sample("frr_show_bgp_summary__kans_router.txt")
    noisy = ("\x1b[32mroot@router\x1b[0m:~# vtysh -c 'show bgp summary'\n" + raw
             + "root@router:~# date\nThu Nov 27 06:02:13 KST 2026\n").replace("\n", "\r\n")
    assert frr_bgp_summary(noisy).equals(frr_bgp_summary(raw))
    vty = "router# show bgp summary\n" + raw
    assert frr_bgp_summary(vty).equals(frr_bgp_summary(raw))


def test_bgp_summary_rejects_other_output():
    e = assert_parse_error(frr_bgp_summary, sample("frr_show_ip_route__kans_router.txt"), "frr_bgp_summary")
    assert e.line.startswith("Codes:")
    assert_parse_error(frr_bgp_summary, sample("frr_show_ip_route__kans_router.json"), "frr_bgp_summary")
    assert_parse_error(frr_bgp_summary, sample("vtysh_show_running_config__frrdevdoc_ospf.txt"), "frr_bgp_summary")
    assert_parse_error(frr_bgp_summary, sample("bird_show_protocols__kans_w1.txt"), "frr_bgp_summary")
    assert_parse_error(frr_bgp_summary, "% BGP instance not found\n", "frr_bgp_summary")
    bad = sample("frr_show_bgp_summary__kans_router.txt").replace("*192.168.20.100 4      64512         4",
                                                               "*192.168.20.100 4      64512      many")
    e = assert_parse_error(frr_bgp_summary, bad, "frr_bgp_summary")
    assert e.lineno == 11 and "many" in e.line


def test_bgp_summary_wide_form_local_as_column():
    text = """\
IPv4 Unicast Summary (VRF default):
BGP router identifier 192.168.20.254, local AS number 64512 vrf-id 0

Neighbor        V         AS    LocalAS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc
*192.168.10.101 4      64512      64512         4         4        0    0    0 00:00:11            2        2 N/A
"""
    df = frr_bgp_summary(text)
    assert list(df.columns) == BGP_COLUMNS
    assert df.loc[0, "msgrcvd"] == 4 and df.loc[0, "pfxrcd"] == 2 and df.loc[0, "dynamic"]
