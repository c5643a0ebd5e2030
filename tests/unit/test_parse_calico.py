"""kanslab.parse calico_* parsers on real calicoctl output (tests/unit/data, the seed's own snippets)
and on the ways students paste it (colours, CRLF, prompts, wrapped cells, trailing `date`)."""


import pandas as pd
import pytest

from kanslab.parse.calico import (
    calico_bgppeers,
    calico_ipam_blocks,
    calico_ipam_borrowed,
    calico_ippools,
    calico_node_status,
    calico_nodes,
    calico_weps,
)

from .fixtures import assert_parse_error, sample

# ------------------------------------------------------------------------------------------------
# Snippets copied from the course seed (course/seed-calico-networking-modes.txt)

SEED_NODE_STATUS_IPIP = """\
# 노드(BGP) Peer 정보 확인
calicoctl node status
IPv4 BGP status
+----------------+-------------------+-------+----------+-------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+----------------+-------------------+-------+----------+-------------+
| 192.168.20.100 | node-to-node mesh | up    | 10:03:45 | Established |
| 192.168.10.101 | node-to-node mesh | up    | 10:05:26 | Established |
| 192.168.10.102 | node-to-node mesh | up    | 10:07:16 | Established |
+----------------+-------------------+-------+----------+-------------+
"""

SEED_NODE_STATUS_GLOBAL = """\
calicoctl node status
Calico process is running.

IPv4 BGP status
+----------------+-------------------+-------+----------+-------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+----------------+-------------------+-------+----------+-------------+
| 192.168.20.100 | node-to-node mesh | up    | 12:32:24 | Established |
| 192.168.10.101 | node-to-node mesh | up    | 12:32:31 | Established |
| 192.168.10.102 | node-to-node mesh | up    | 12:41:12 | Established |
| 192.168.10.254 | global            | up    | 12:43:29 | Established |
+----------------+-------------------+-------+----------+-------------+
"""

SEED_IPAM_BLOCKS = """\
calicoctl ipam show --show-blocks
+----------+-----------------+-----------+------------+--------------+
| GROUPING |      CIDR       | IPS TOTAL | IPS IN USE |   IPS FREE   |
+----------+-----------------+-----------+------------+--------------+
| IP Pool  | 172.16.0.0/16   |     65536 | 6 (0%)     | 65530 (100%) |
| Block    | 172.16.116.0/24 |       256 | 4 (2%)     | 252 (98%)    |
| Block    | 172.16.158.0/24 |       256 | 1 (0%)     | 255 (100%)   |
| Block    | 172.16.34.0/24  |       256 | 1 (0%)     | 255 (100%)   |
+----------+-----------------+-----------+------------+--------------+
"""

SEED_IPPOOL_ALWAYS = """\
# Calico 모드 정보 확인
calicoctl get ippool -o wide
NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   SELECTOR
default-ipv4-ippool   172.16.0.0/16   true   Always     Never       false      all()
"""

SEED_IPPOOL_NEVER = """\
# 모드 정보 확인 : IPIPMODE 가 Never 로 변경!
calicoctl get ippool -o wide
root@k8s-m:~/yaml# calicoctl get ippool -o wide
NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   SELECTOR
default-ipv4-ippool   172.16.0.0/16   true   Never      Never       false      all()
"""

SEED_IPPOOL_CROSSSUBNET = """\
# 모드 확인
calicoctl get ippool -o wide
NAME                  CIDR            NAT    IPIPMODE      VXLANMODE   DISABLED   SELECTOR
default-ipv4-ippool   172.16.0.0/16   true   CrossSubnet   Never       false      all()
"""

SEED_BGPPEER = """\
# 확인
calicoctl get bgppeer
NAME          PEERIP           NODE       ASN
bgppeer-rtr   192.168.10.254   (global)   64512
"""

SEED_ROUTE_N = """\
route -n | egrep '(Destination|tunl0)'
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
172.16.8.128    192.168.20.100  255.255.255.192 UG    0      0        0 tunl0
172.16.46.0     192.168.10.102  255.255.255.192 UG    0      0        0 tunl0
172.16.228.64   192.168.10.101  255.255.255.192 UG    0      0        0 tunl0
"""

SEED_IP_ROUTE_BIRD = """\
ip -c route | grep bird
10.1.1.0/24 via 192.168.10.254 dev enp0s8 proto bird
10.1.2.0/24 via 192.168.10.254 dev enp0s8 proto bird
"""

# From research/kans-lab.md 3.2 (KANS 2024 / 2022 labs, calicoctl's own test fixtures)
KANS_IPPOOL_WIDE = """\
NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR
default-ipv4-ippool   172.16.0.0/16   true   Always     Never       false      false              all()
"""
CALICOCTL_IPPOOL_DEFAULT = "NAME           CIDR          SELECTOR       \nippool-name1   10.0.1.0/24   foo == 'bar'   \n\n"
KANS_BGPPEERS_2022 = """\
NAME         PEERIP           NODE              ASN
bgppeer-m    192.168.10.254   k8s-m             64512
rack1-tor    192.168.10.254   rack == 'rack1'   64512
"""
KANS_WEP = """\
WORKLOAD   NODE     NETWORKS          INTERFACE
pod1       k8s-w1   172.16.158.6/32   calice0906292e2
pod3       k8s-w0   172.16.34.1/32    cali49778cadcf1
"""
KANS_WEP_ALL = """\
NAMESPACE     WORKLOAD                   NODE     NETWORKS          INTERFACE
kube-system   coredns-55cb58b774-djmlk   k8s-w1   172.16.158.3/32   cali7760be1255d
default       pod1                       k8s-w1   172.16.158.6/32   calice0906292e2
"""




# ------------------------------------------------------------------------------------------------
# calicoctl node status


def test_node_status_sample_with_global_peer():
    df = calico_node_status(sample("calicoctl_node_status__ddella_mesh_global.txt"))
    assert list(df.columns) == ["peer_address", "peer_type", "state", "since", "info", "ip_version"]
    assert df["peer_address"].tolist() == ["192.168.13.35", "192.168.13.36", "192.168.13.37", "192.168.13.39"]
    assert df.loc[3, "peer_type"] == "global"
    assert (df["peer_type"][:3] == "node-to-node mesh").all()
    assert df.loc[3, "since"] == "15:51:55"
    assert (df["state"] == "up").all() and (df["info"] == "Established").all()
    assert (df["ip_version"] == 4).all() and df["ip_version"].dtype == "int64"


def test_node_status_sample_connect_and_node_specific():
    df = calico_node_status(sample("calicoctl_node_status__ddella_connect_nodespecific.txt"))
    assert df["state"].tolist() == ["start", "start", "start", "up"]
    assert df["info"].tolist() == ["Connect", "Connect", "Connect", "Established"]
    assert df.loc[3, "peer_type"] == "node specific"
    assert df.loc[3, "peer_address"] == "10.250.12.1"


def test_node_status_seed_table_only():
    # the seed shows the IPv4 table alone: no `Calico process is running.`, no IPv6 section
    df = calico_node_status(SEED_NODE_STATUS_IPIP)
    assert df["peer_address"].tolist() == ["192.168.20.100", "192.168.10.101", "192.168.10.102"]
    assert df.loc[0, "since"] == "10:03:45"
    assert (df["peer_type"] == "node-to-node mesh").all()


def test_node_status_seed_global_router_peer():
    df = calico_node_status(SEED_NODE_STATUS_GLOBAL)
    assert len(df) == 4
    assert df.loc[3, "peer_type"] == "global"
    assert df.loc[3, "peer_address"] == "192.168.10.254"
    assert df.loc[3, "since"] == "12:43:29"


def test_node_status_wrapped_info_cell_is_merged():
    text = """\
Calico process is running.

IPv4 BGP status
+----------------+-------------------+-------+------------+---------------------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |   SINCE    |           INFO            |
+----------------+-------------------+-------+------------+---------------------------+
| 192.168.63.204 | node-to-node mesh | start | 2024-09-01 | Active Socket: Connection |
|                |                   |       |            | refused                   |
| 192.168.63.205 | global            | up    | 09:12:44   | Established               |
+----------------+-------------------+-------+------------+---------------------------+

IPv6 BGP status
No IPv6 peers found.
"""
    df = calico_node_status(text)
    assert len(df) == 2
    assert df.loc[0, "info"] == "Active Socket: Connection refused"
    assert df.loc[0, "since"] == "2024-09-01"
    assert df.loc[1, "info"] == "Established"


def test_node_status_no_peers_gives_empty_frame_with_columns():
    text = "Calico process is running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n"
    df = calico_node_status(text)
    assert df.empty
    assert list(df.columns) == ["peer_address", "peer_type", "state", "since", "info", "ip_version"]


def test_node_status_without_bird_is_empty():
    # VXLAN-only clusters run without BIRD
    df = calico_node_status("Calico process is running.\n\nThe BGP backend process (BIRD) is not running.\n")
    assert df.empty


def test_node_status_calico_not_running_raises():
    e = assert_parse_error(calico_node_status, "Calico process is not running.\n", "calico_node_status")
    assert e.line == "Calico process is not running."


def test_node_status_ipv4_and_ipv6_sections_in_one_frame():
    text = """\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
+----------------------+-------------------+-------+----------+-------------+
|     PEER ADDRESS     |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+----------------------+-------------------+-------+----------+-------------+
| fd00:10:244:1::102   | node-to-node mesh | up    | 23:30:05 | Established |
| 2001:db8:ffff::1     | node specific     | start | 23:30:05 | Connect     |
+----------------------+-------------------+-------+----------+-------------+

"""
    df = calico_node_status(text)
    assert df["ip_version"].tolist() == [4, 6, 6]
    assert df.loc[1, "peer_address"] == "fd00:10:244:1::102"
    assert df.loc[2, "state"] == "start"


def test_node_status_title_case_header():
    text = """\
+--------------+-------------------+-------+----------+-------------+
| Peer address |     Peer type     | State |  Since   |    Info     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+
"""
    df = calico_node_status(text)
    assert df.loc[0, "peer_address"] == "172.17.8.102"
    assert df.loc[0, "ip_version"] == 4


def test_node_status_terminal_noise_is_ignored():
    raw = sample("calicoctl_node_status__ddella_mesh_global.txt")
    noisy = ("\x1b[01;32mroot@k8s-m\x1b[00m:\x1b[01;34m~\x1b[00m# calicoctl node status\n" + raw.replace(
        "| 192.168.13.39 | global           ", "| \x1b[32m192.168.13.39\x1b[0m | global           ")
        + "root@k8s-m:~# date\nThu Nov 27 06:02:13 KST 2026\n\n").replace("\n", "\r\n")
    df = calico_node_status(noisy)
    assert df.equals(calico_node_status(raw))
    assert df.loc[3, "peer_address"] == "192.168.13.39"


def test_node_status_rejects_other_output():
    e = assert_parse_error(calico_node_status, SEED_ROUTE_N, "calico_node_status")
    assert e.line is not None and e.lineno == 1
    e = assert_parse_error(calico_node_status, SEED_IPAM_BLOCKS, "calico_node_status")
    assert "GROUPING" in e.line and e.lineno == 3
    assert_parse_error(calico_node_status, "", "calico_node_status")
    # a broken row inside the table
    bad = SEED_NODE_STATUS_IPIP.replace("| 192.168.10.101 |", "| not-an-ip      |")
    e = assert_parse_error(calico_node_status, bad, "calico_node_status")
    assert "not-an-ip" in e.line and e.lineno == 8


# ------------------------------------------------------------------------------------------------
# calicoctl ipam show [--show-blocks]


def test_ipam_blocks_seed_values():
    df = calico_ipam_blocks(SEED_IPAM_BLOCKS)
    assert list(df.columns) == ["grouping", "cidr", "ips_total", "ips_in_use", "ips_in_use_pct",
                                "ips_free", "ips_free_pct"]
    assert df["grouping"].tolist() == ["IP Pool", "Block", "Block", "Block"]
    block = df.set_index("cidr").loc["172.16.116.0/24"]
    assert block["ips_in_use"] == 4 and block["ips_in_use_pct"] == 2.0
    assert block["ips_free"] == 252 and block["ips_free_pct"] == 98.0
    assert df.loc[0, "ips_total"] == 65536 and df.loc[0, "ips_free_pct"] == 100.0
    assert df["ips_total"].dtype == "int64" and df["ips_in_use"].dtype == "int64"
    assert df["ips_in_use_pct"].dtype == "float64"


@pytest.mark.parametrize("name, pools, blocks", [
    ("calicoctl_ipam_show_blocks__ddella_1pool.txt", 1, 4),
    ("calicoctl_ipam_show_blocks__ddella_3pools.txt", 3, 10),
    ("calicoctl_ipam_show_blocks__ddella_4blocks.txt", 1, 4),
    ("calicoctl_ipam_show__ddella_3pools.txt", 3, 0),
])
def test_ipam_blocks_samples_add_up(name, pools, blocks):
    df = calico_ipam_blocks(sample(name))
    assert (df["grouping"] == "IP Pool").sum() == pools
    assert (df["grouping"] == "Block").sum() == blocks
    assert (df["ips_in_use"] + df["ips_free"] == df["ips_total"]).all()
    if blocks:  # every block follows its pool, and the pool's in-use count is the sum of its blocks'
        pool_of = (df["grouping"] == "IP Pool").cumsum()
        used = df[df["grouping"] == "Block"].groupby(pool_of)["ips_in_use"].sum()
        assert used.tolist() == df[df["grouping"] == "IP Pool"]["ips_in_use"].tolist()


def test_ipam_blocks_sample_values():
    df = calico_ipam_blocks(sample("calicoctl_ipam_show_blocks__ddella_3pools.txt")).set_index("cidr")
    assert df.loc["10.255.140.64/26", "ips_in_use"] == 13
    assert df.loc["10.255.140.64/26", "ips_in_use_pct"] == 20.0
    assert df.loc["10.64.16.0/20", "ips_total"] == 4096


def test_ipam_blocks_ipv6_pool_totals_are_float():
    text = """\
+----------+-----------------------+------------+------------+-------------------+
| GROUPING |         CIDR          | IPS TOTAL  | IPS IN USE |     IPS FREE      |
+----------+-----------------------+------------+------------+-------------------+
| IP Pool  | 172.16.0.0/16         |      65536 | 7 (0%)     | 65529 (100%)      |
| IP Pool  | fd00:10:244::/48      | 1.2089e+24 | 5 (0%)     | 1.2089e+24 (100%) |
| Block    | fd00:10:244:1::/122   |         64 | 5 (8%)     | 59 (92%)          |
+----------+-----------------------+------------+------------+-------------------+
"""
    df = calico_ipam_blocks(text)
    assert df["ips_total"].dtype == "float64"
    assert df.loc[1, "ips_total"] == pytest.approx(1.2089e24)
    assert df.loc[0, "ips_total"] == 65536
    assert df.loc[0, "ips_in_use"] == 7 and df.loc[0, "ips_in_use_pct"] == 0.0
    assert df["ips_in_use"].dtype == "int64"


def test_ipam_blocks_terminal_noise():
    noisy = ("root@k8s-m:~# calicoctl ipam show --show-blocks\r\n"
             + SEED_IPAM_BLOCKS.replace("4 (2%)", "\x1b[1m4 (2%)\x1b[0m").replace("\n", "\r\n")
             + "\r\nroot@k8s-m:~# date\r\nThu Nov 27 06:02:13 KST 2026\r\n")
    assert calico_ipam_blocks(noisy).equals(calico_ipam_blocks(SEED_IPAM_BLOCKS))


def test_ipam_blocks_rejects_other_output():
    e = assert_parse_error(calico_ipam_blocks, SEED_NODE_STATUS_GLOBAL, "calico_ipam_blocks")
    assert "PEER ADDRESS" in e.line
    assert_parse_error(calico_ipam_blocks, SEED_ROUTE_N, "calico_ipam_blocks")
    config = "+--------------------+-------+\n|      PROPERTY      | VALUE |\n+--------------------+-------+\n| StrictAffinity     | false |\n+--------------------+-------+\n"
    assert_parse_error(calico_ipam_blocks, config, "calico_ipam_blocks")
    e = assert_parse_error(calico_ipam_blocks, SEED_IPAM_BLOCKS.replace("4 (2%)", "lots  "), "calico_ipam_blocks")
    assert e.lineno == 6


# ------------------------------------------------------------------------------------------------
# calicoctl get ippool [-o wide]


def test_ippools_wide_sample_with_disablebgpexport():
    df = calico_ippools(sample("calicoctl_get_ippool_wide__ddella_vxlan_crosssubnet.txt"))
    assert list(df.columns) == ["name", "cidr", "nat", "ipipmode", "vxlanmode", "disabled",
                                "disablebgpexport", "selector"]
    assert df["name"].tolist() == ["default-ipv4-ippool", "external-pool", "internal-pool"]
    assert df.loc[2, "cidr"] == "10.64.16.0/20"
    assert (df["ipipmode"] == "Never").all() and (df["vxlanmode"] == "CrossSubnet").all()
    assert df["nat"].dtype == bool and df["nat"].all()
    assert not df["disabled"].any() and not df["disablebgpexport"].any()
    assert (df["selector"] == "all()").all()


@pytest.mark.parametrize("text, ipip", [(SEED_IPPOOL_ALWAYS, "Always"), (SEED_IPPOOL_NEVER, "Never"),
                                        (SEED_IPPOOL_CROSSSUBNET, "CrossSubnet")])
def test_ippools_seed_older_calicoctl_without_disablebgpexport(text, ipip):
    df = calico_ippools(text)
    assert list(df.columns) == ["name", "cidr", "nat", "ipipmode", "vxlanmode", "disabled", "selector"]
    assert df.loc[0, "ipipmode"] == ipip and df.loc[0, "vxlanmode"] == "Never"
    assert df.loc[0, "cidr"] == "172.16.0.0/16"
    assert df["nat"].dtype == bool and df["disabled"].dtype == bool
    assert df.loc[0, "nat"] and not df.loc[0, "disabled"]


def test_ippools_kans_wide_and_default_tables():
    df = calico_ippools(KANS_IPPOOL_WIDE)
    assert df.loc[0, "ipipmode"] == "Always" and not df.loc[0, "disablebgpexport"]
    df = calico_ippools(CALICOCTL_IPPOOL_DEFAULT)
    assert list(df.columns) == ["name", "cidr", "selector"]
    assert df.loc[0, "selector"] == "foo == 'bar'"


def test_ippools_empty_cell_is_placed_by_header_position():
    text = ("NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   \n"
            "pool-b                10.70.0.0/16    false  Never      Always      true       false                         \n")
    df = calico_ippools(text)
    assert pd.isna(df.loc[0, "selector"])
    assert df.loc[0, "vxlanmode"] == "Always" and df.loc[0, "disabled"] and not df.loc[0, "nat"]


def test_ippools_terminal_noise():
    noisy = ("\x1b[32mroot@k8s-m\x1b[0m:~# calicoctl get ippool -o wide\r\n" + KANS_IPPOOL_WIDE.replace("\n", "\r\n")
             + "\r\nroot@k8s-m:~# date\r\nThu Nov 27 06:02:13 KST 2026\r\n")
    assert calico_ippools(noisy).equals(calico_ippools(KANS_IPPOOL_WIDE))
    # a `date` line straight after the rows (no blank line) is chatter too
    assert calico_ippools(KANS_IPPOOL_WIDE + "Thu Nov 27 06:02:13 KST 2026\n").equals(calico_ippools(KANS_IPPOOL_WIDE))


def test_ippools_rejects_other_output():
    e = assert_parse_error(calico_ippools, SEED_BGPPEER, "calico_ippools")
    assert e.line is not None
    assert_parse_error(calico_ippools, SEED_ROUTE_N, "calico_ippools")
    e = assert_parse_error(calico_ippools, SEED_IPPOOL_ALWAYS.replace("true   Always", "yes    Always"), "calico_ippools")
    assert e.lineno == 4 and "default-ipv4-ippool" in e.line


# ------------------------------------------------------------------------------------------------
# calicoctl get bgppeer


def test_bgppeers_seed_global_peer():
    df = calico_bgppeers(SEED_BGPPEER)
    assert list(df.columns) == ["name", "peerip", "node", "asn"]
    assert df.loc[0].tolist() == ["bgppeer-rtr", "192.168.10.254", "(global)", 64512]
    assert df["asn"].dtype == "int64"


def test_bgppeers_node_and_selector():
    df = calico_bgppeers(KANS_BGPPEERS_2022)
    assert df["node"].tolist() == ["k8s-m", "rack == 'rack1'"]
    assert (df["asn"] == 64512).all()


def test_bgppeers_ipv6_and_port():
    text = "NAME     PEERIP               NODE       ASN   \nv6-tor   [fd00::1]:1790       (global)   65001   \nv4-tor   10.0.0.1:1790        (global)   65002   \n"
    df = calico_bgppeers(text)
    assert df["peerip"].tolist() == ["[fd00::1]:1790", "10.0.0.1:1790"]
    assert df["asn"].tolist() == [65001, 65002]


def test_bgppeers_rejects_other_output():
    assert_parse_error(calico_bgppeers, SEED_IPPOOL_ALWAYS, "calico_bgppeers")
    assert_parse_error(calico_bgppeers, SEED_IP_ROUTE_BIRD, "calico_bgppeers")
    assert_parse_error(calico_bgppeers, SEED_BGPPEER.replace("64512", "many"), "calico_bgppeers")


# ------------------------------------------------------------------------------------------------
# calicoctl get wep


def test_weps_without_namespace_column():
    df = calico_weps(KANS_WEP)
    assert list(df.columns) == ["workload", "node", "networks", "interface", "ip"]
    assert df.loc[0, "workload"] == "pod1" and df.loc[0, "networks"] == "172.16.158.6/32"
    assert df["ip"].tolist() == ["172.16.158.6", "172.16.34.1"]
    assert df.loc[1, "interface"] == "cali49778cadcf1"


def test_weps_all_namespaces():
    df = calico_weps("root@k8s-m:~# calicoctl get wep -A\n" + KANS_WEP_ALL + "\n")
    assert list(df.columns) == ["namespace", "workload", "node", "networks", "interface", "ip"]
    assert df.loc[0, "namespace"] == "kube-system"
    assert df.loc[0, "workload"] == "coredns-55cb58b774-djmlk" and df.loc[0, "ip"] == "172.16.158.3"


def test_weps_wide_dual_stack_and_empty_cells():
    text = ("NAMESPACE   NAME                      WORKLOAD   NODE     NETWORKS                                INTERFACE         PROFILES                          NATS   \n"
            "default     k8s--w1-k8s-pod1-eth0     pod1       k8s-w1   172.16.158.6/32,fd00:10:244:1::6/128   calice0906292e2   kns.default,ksa.default.default          \n"
            "default     k8s--w0-k8s-pod3-eth0     pod3       k8s-w0                                           cali49778cadcf1   kns.default,ksa.default.default          \n")
    df = calico_weps(text)
    assert df.loc[0, "networks"] == "172.16.158.6/32,fd00:10:244:1::6/128"
    assert df.loc[0, "ip"] == "172.16.158.6"
    assert pd.isna(df.loc[0, "nats"]) and df.loc[0, "profiles"] == "kns.default,ksa.default.default"
    assert pd.isna(df.loc[1, "networks"]) and pd.isna(df.loc[1, "ip"])
    assert df.loc[1, "interface"] == "cali49778cadcf1"


def test_weps_rejects_other_output():
    e = assert_parse_error(calico_weps, sample("kubectl_get_pods_wide__ddella_allns.txt"), "calico_weps")
    assert e.lineno == 1
    assert_parse_error(calico_weps, SEED_BGPPEER, "calico_weps")
    assert_parse_error(calico_weps, KANS_WEP.replace("172.16.34.1/32", "somewhere     "), "calico_weps")


# ------------------------------------------------------------------------------------------------
# calicoctl get nodes -o wide


def test_nodes_inherited_and_explicit_asn():
    text = """\
root@k8s-m:~# calicoctl get nodes -o wide
NAME     ASN       IPV4                IPV6
k8s-m    (64512)   192.168.10.10/24
k8s-w0   (64512)   192.168.20.100/24
k8s-w1   64513     192.168.10.101/24   fd00:10::101/64

"""
    df = calico_nodes(text)
    assert list(df.columns) == ["name", "asn", "asn_inherited", "ipv4", "ipv6"]
    assert df["asn"].tolist() == [64512, 64512, 64513]
    assert df["asn_inherited"].tolist() == [True, True, False]
    assert df.loc[1, "ipv4"] == "192.168.20.100/24"
    assert pd.isna(df.loc[0, "ipv6"]) and df.loc[2, "ipv6"] == "fd00:10::101/64"


def test_nodes_plain_get_nodes():
    df = calico_nodes("NAME     \nk8s-m    \nk8s-w1   \n\n")
    assert df["name"].tolist() == ["k8s-m", "k8s-w1"]
    assert df["asn"].isna().all()


def test_nodes_rejects_other_output():
    kubectl = "NAME     STATUS   ROLES           AGE   VERSION\nk8s-m    Ready    control-plane   10d   v1.30.5\n"
    e = assert_parse_error(calico_nodes, kubectl, "calico_nodes")
    assert e.line.startswith("NAME") and e.lineno == 1
    assert_parse_error(calico_nodes, SEED_ROUTE_N, "calico_nodes")
    assert_parse_error(calico_nodes, "NAME     ASN       IPV4\nk8s-m    [64512]   192.168.10.10/24\n", "calico_nodes")


def test_nodes_date_after_rows_is_chatter():
    df = calico_nodes("NAME     \nk8s-m    \nk8s-w1   \nThu Nov  7 06:02:13 KST 2024\n")
    assert df["name"].tolist() == ["k8s-m", "k8s-w1"]


# ------------------------------------------------------------------------------------------------
# calicoctl ipam show --show-borrowed (the embedded lab's output after an ipAddrs pin on k8s-w2)

LAB_BORROWED = """\
+----------------+----------------+-----------------+-------------+------+-------------------+
|       IP       | BORROWING-NODE |      BLOCK      | BLOCK OWNER | TYPE |   ALLOCATED-TO    |
+----------------+----------------+-----------------+-------------+------+-------------------+
| 172.16.148.200 | k8s-w2         | 172.16.148.0/24 | k8s-w1      | pod  | default/static-w2 |
+----------------+----------------+-----------------+-------------+------+-------------------+
"""


def test_ipam_borrowed_rows():
    df = calico_ipam_borrowed(LAB_BORROWED)
    assert list(df.columns) == ["ip", "borrowing_node", "block", "block_owner", "type", "allocated_to"]
    assert df.to_dict("records") == [{"ip": "172.16.148.200", "borrowing_node": "k8s-w2",
                                      "block": "172.16.148.0/24", "block_owner": "k8s-w1", "type": "pod",
                                      "allocated_to": "default/static-w2"}]


def test_ipam_borrowed_empty_table_and_note_line():
    header_only = "\n".join(LAB_BORROWED.splitlines()[:3]) + "\n"
    assert calico_ipam_borrowed(header_only).empty
    noted = LAB_BORROWED + "Note: found 2 IP allocations without an explicit node association\n"
    assert calico_ipam_borrowed(noted).equals(calico_ipam_borrowed(LAB_BORROWED))


def test_ipam_borrowed_rejects_other_output():
    e = assert_parse_error(calico_ipam_borrowed, SEED_IPAM_BLOCKS, "calico_ipam_borrowed")
    assert "GROUPING" in e.line
    e = assert_parse_error(calico_ipam_borrowed, LAB_BORROWED.replace("172.16.148.200", "172.16.148.999"),
                           "calico_ipam_borrowed")
    assert e.lineno == 4


# ---------------------------------------------------------------- ipam show --show-configuration
# calicoctl v3.28 (tablewriter, calicoctl/commands/ipam/show.go showConfiguration)
IPAM_CONFIG = """\
+--------------------+-------+
|      PROPERTY      | VALUE |
+--------------------+-------+
| StrictAffinity     | false |
| AutoAllocateBlocks | true  |
| MaxBlocksPerHost   |     0 |
+--------------------+-------+
"""


def test_ipam_config_rows_as_printed():
    from kanslab.parse import calico_ipam_config

    df = calico_ipam_config("root@k8s-m:~# calicoctl ipam show --show-configuration\n" + IPAM_CONFIG)
    assert df.set_index("property").value.to_dict() == \
        {"StrictAffinity": "false", "AutoAllocateBlocks": "true", "MaxBlocksPerHost": "0"}


def test_ipam_config_of_the_emulated_calicoctl(tmp_path):
    from kanslab.parse import calico_ipam_config

    from .fixtures import cctl, cli_lab

    ctx = cli_lab(tmp_path)
    cctl(ctx, "ipam configure --strictaffinity=true")
    out = cctl(ctx, "ipam show --show-configuration")[1]
    assert calico_ipam_config(out).set_index("property").value["StrictAffinity"] == "true"


def test_ipam_config_rejects_other_tables():
    from kanslab.parse import calico_ipam_config

    assert_parse_error(calico_ipam_config, sample("calicoctl_ipam_show__ddella_3pools.txt"))
    assert_parse_error(calico_ipam_config, IPAM_CONFIG.replace("StrictAffinity    ", "Strictness        "))
