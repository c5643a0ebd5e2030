"""Calico routing modes live (issue 4): switch the pool, watch routes and packets change.

Every test patches the default IPPool as the course does, waits for k8s-w1's routes to take the
shape Calico gives them (research/kans-lab.md §4.3), reaches pods on k8s-w2 and k8s-w0 with curl
and captures what crosses the router (or k8s-w2's NIC). Each test puts the pool back to the lab's
default (IPIP Always, natOutgoing true) however it ends.
"""

from __future__ import annotations

import ipaddress
import json
import re
from contextlib import contextmanager

import pytest
import yaml

from kanslab import CommandError, parse, plot, wait_for

pytestmark = pytest.mark.lab

POOL = "default-ipv4-ippool"
DEFAULT = {"ipipMode": "Always", "vxlanMode": "Never", "natOutgoing": True}
POOL_CIDR = ipaddress.ip_network("172.16.0.0/16")
W0, W1, W2, M = "192.168.20.100", "192.168.10.101", "192.168.10.102", "192.168.10.10"
RTR_NET1 = "192.168.10.254"
IDC = "10.1.1.254"
# what pod-to-pod traffic looks like on a wire, whichever mode carries it
ANY_MODE = "tcp port 80 or ip proto 4 or udp port 4789"

SEED_PEER = """apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-rtr
spec:
  peerIP: 192.168.10.254
  asNumber: 64512
"""
# one session per node, each to the router's address on the node's own subnet
PEER_PER_SUBNET = """apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rtr-net1
spec:
  nodeSelector: kubernetes.io/hostname != 'k8s-w0'
  peerIP: 192.168.10.254
  asNumber: 64512
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rtr-net2
spec:
  node: k8s-w0
  peerIP: 192.168.20.254
  asNumber: 64512
"""


# -- helpers ---------------------------------------------------------------------------------



def patch_pool(lab, **spec) -> str:
    return lab.calicoctl(f"patch ippool {POOL} -p '{json.dumps({'spec': spec})}'")


def pool_routes(lab, node: str = "k8s-w1") -> dict[str, tuple]:
    """The node's routes for pod blocks: dst -> (gateway, dev, proto, onlink); blackholes as ('blackhole', proto)."""
    df = parse.ip_route(lab.sh(node, "ip -j route"))
    out = {}
    for r in df.itertuples():
        if "/" not in r.dst or not ipaddress.ip_network(r.dst).subnet_of(POOL_CIDR):
            continue  # default, node subnets, IDC nets, and the per-pod /32s on cali*
        proto = r.proto if isinstance(r.proto, str) else None  # no proto shown (Felix's boot routes): NaN in the frame
        out[r.dst] = ("blackhole", proto) if r.type == "blackhole" else (r.gateway, r.dev, proto, bool(r.onlink))
    return out


def wait_routes(lab, want: dict, node: str = "k8s-w1", timeout: float = 20.0) -> dict:
    have = wait_for(lambda: (lambda h: h if h == want else None)(pool_routes(lab, node)), timeout)
    return have or pool_routes(lab, node)


def reach(lab, src: str, dst: str, pods: dict, seconds: int = 3) -> bool:
    """Can pod src fetch pod dst's whoami page? (a real TCP connection with curl)"""
    out = lab.exec(src, f"curl -s --max-time {seconds} http://{pods[dst]}/", check=False)
    return f"Hostname: {dst}" in out


def reaches(lab, src: str, dst: str, pods: dict, timeout: float = 10.0) -> bool:
    return bool(wait_for(lambda: reach(lab, src, dst, pods), timeout))


def capture_webpod1_to_2_and_3(lab, web_pods) -> tuple:
    """webpod1 (k8s-w1) reaches webpod2 (k8s-w2, same subnet) and webpod3 (k8s-w0, across the
    router) while the router and k8s-w2's NIC capture: (router capture, k8s-w2 capture)."""
    with lab.capture("router", bpf=ANY_MODE, seconds=20) as rtr, \
            lab.capture("k8s-w2", bpf=ANY_MODE, iface="enp0s8", seconds=20) as w2:
        assert reaches(lab, "webpod1", "webpod2", web_pods)
        assert reaches(lab, "webpod1", "webpod3", web_pods)
    return rtr, w2


def ipip_routes(blocks: dict) -> dict:
    return {blocks["k8s-m"]: (M, "tunl0", "bird", True), blocks["k8s-w2"]: (W2, "tunl0", "bird", True),
            blocks["k8s-w0"]: (W0, "tunl0", "bird", True), blocks["k8s-w1"]: ("blackhole", "bird")}


def direct_routes(blocks: dict) -> dict:
    return {blocks["k8s-m"]: (M, "enp0s8", "bird", False), blocks["k8s-w2"]: (W2, "enp0s8", "bird", False),
            # another subnet: BIRD resolves k8s-w0's next hop recursively, through the router
            blocks["k8s-w0"]: (RTR_NET1, "enp0s8", "bird", False), blocks["k8s-w1"]: ("blackhole", "bird")}


def restore_default(lab, blocks: dict) -> None:
    patch_pool(lab, **DEFAULT)
    assert wait_routes(lab, ipip_routes(blocks)) == ipip_routes(blocks)


@contextmanager
def pool_mode(lab, blocks: dict, **spec):
    """Patch the pool for the block, and always put the lab's default back afterwards."""
    try:
        patch_pool(lab, **spec)
        yield
    finally:
        restore_default(lab, blocks)


def pairs(df, outer: bool = False) -> set[tuple[str, str]]:
    cols = ("outer_src", "outer_dst") if outer else ("src", "dst")
    return set(zip(df[cols[0]], df[cols[1]], strict=True))


def both_ways(a: str, b: str) -> set[tuple[str, str]]:
    return {(a, b), (b, a)}


def router_block_routes(lab) -> dict[str, tuple]:
    df = parse.ip_route(lab.sh("router", "ip -j route"))
    return {r.dst: (r.gateway, r.proto if isinstance(r.proto, str) else None) for r in df.itertuples()
            if "/" in r.dst and ipaddress.ip_network(r.dst).subnet_of(POOL_CIDR)}


@pytest.fixture(scope="module")
def blocks(lab, web_pods) -> dict[str, str]:
    """node -> its IPAM block, as `calicoctl ipam show --show-blocks` lists them; the owner of a
    block is the node holding its blackhole route (one /24 block per node in this lab)."""
    df = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks"))
    listed = set(df[df.grouping == "Block"].cidr)
    owner = {}
    for n in lab.topology.nodes:
        for dst in parse.ip_route(lab.sh(n.name, "ip route show type blackhole")).dst:
            owner[n.name] = dst
    assert set(owner.values()) == listed and len(owner) == 4, (owner, listed)
    for pod, node in (("webpod1", "k8s-w1"), ("webpod2", "k8s-w2"), ("webpod3", "k8s-w0")):
        assert ipaddress.ip_address(web_pods[pod]) in ipaddress.ip_network(owner[node])
    return owner


def vtep(lab, node: str) -> str:
    """A node's VXLAN tunnel address, as calico-node records it on the Calico Node resource."""
    return yaml.safe_load(lab.calicoctl(f"get node {node} -o yaml"))["spec"]["ipv4VXLANTunnelAddr"]


TUNNEL_MASQ = "-m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully"


def tunnel_masquerade(lab) -> list[str]:
    """k8s-w1's cali-POSTROUTING rules that masquerade into a tunnel device, as iptables-save prints them."""
    return [ln.removeprefix("-A cali-POSTROUTING ") for ln in lab.sh("k8s-w1", "iptables-save -t nat").splitlines()
            if ln.startswith("-A cali-POSTROUTING -o ")]


# -- one test per mode ------------------------------------------------------------------------

def test_ipip_always(lab, web_pods, blocks):
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="Never"):
        assert wait_routes(lab, direct_routes(blocks)) == direct_routes(blocks)
        patch_pool(lab, ipipMode="Always")
        assert wait_routes(lab, ipip_routes(blocks)) == ipip_routes(blocks)
        # the seed's view: `route -n`, Iface tunl0 for every remote block
        rn = parse.route_n(lab.sh("k8s-w1", "route -n"))
        remote = rn[rn.prefix.isin([blocks[n] for n in ("k8s-m", "k8s-w2", "k8s-w0")])]
        assert set(remote.iface) == {"tunl0"} and set(remote["flags"]) == {"UG"}

        assert wait_for(lambda: tunnel_masquerade(lab) == [
            f"-o tunl0 -m comment --comment \"cali:SXWvdsbh4Mw7wOln\" {TUNNEL_MASQ}"], timeout=10)
        rtr, w2 = capture_webpod1_to_2_and_3(lab, web_pods)
    r, w = rtr.packets, w2.packets
    pod1, pod2, pod3 = web_pods["webpod1"], web_pods["webpod2"], web_pods["webpod3"]
    # w1 -> w0 crosses the router as protocol 4: node addresses outside, pod addresses inside
    assert len(r) >= 6 and set(r.encap) == {"ipip"} and set(r.outer_proto) == {4}
    assert pairs(r, outer=True) == both_ways(W1, W0)
    assert pairs(r) == both_ways(pod1, pod3) and set(r.proto) == {6}
    # w1 -> w2 is encapsulated too (Always), on their shared subnet
    assert len(w) >= 6 and set(w.encap) == {"ipip"}
    assert pairs(w, outer=True) == both_ways(W1, W2) and pairs(w) == both_ways(pod1, pod2)


def test_direct_routes_and_plain_packets_between_nodes_of_one_subnet(lab, web_pods, blocks):
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="Never"):
        assert wait_routes(lab, direct_routes(blocks)) == direct_routes(blocks)
        rn = parse.route_n(lab.sh("k8s-w1", "route -n"))
        assert set(rn[rn.prefix.str.startswith("172.16.") & (rn["flags"] == "UG")].iface) == {"enp0s8"}
        with lab.capture("router", bpf=ANY_MODE, seconds=20) as rtr, \
                lab.capture("k8s-w2", bpf=ANY_MODE, iface="enp0s8", seconds=20) as w2:
            assert reaches(lab, "webpod1", "webpod2", web_pods)
    w = w2.packets
    assert len(w) >= 6 and set(w.encap) == {"none"}
    # no tunnel: the addresses on the wire are the pods' own
    assert pairs(w, outer=True) == pairs(w) == both_ways(web_pods["webpod1"], web_pods["webpod2"])
    assert len(rtr.packets) == 0, "w1 <-> w2 must not cross the router"


def test_direct_across_subnets_fails_until_the_router_has_static_routes(lab, web_pods, blocks):
    """The seed's lesson: encapsulation off, k8s-w0's pods are cut off from k8s-w1's, because the
    router knows no pod block; `ip route add <block> via <node>` on the router fixes it."""
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="Never"):
        assert wait_routes(lab, direct_routes(blocks)) == direct_routes(blocks)
        assert router_block_routes(lab) == {}
        assert not reach(lab, "webpod3", "webpod1", web_pods, seconds=1)
        assert not reach(lab, "webpod1", "webpod3", web_pods, seconds=1)

        ips = {n.name: n.ip for n in lab.topology.nodes}
        added = []
        try:
            for node, block in blocks.items():  # as the seed does, from `calicoctl ipam show --show-blocks`
                lab.sh("router", f"ip route add {block} via {ips[node]}")
                added.append(block)
            assert router_block_routes(lab) == {b: (ips[n], None) for n, b in blocks.items()}
            with lab.capture("router", bpf=ANY_MODE, seconds=20) as rtr:
                assert reaches(lab, "webpod3", "webpod1", web_pods)
                assert reaches(lab, "webpod1", "webpod3", web_pods)
        finally:
            for block in added:
                lab.sh("router", f"ip route del {block}")
        r = rtr.packets
        assert len(r) >= 12 and set(r.encap) == {"none"}
        assert pairs(r, outer=True) == pairs(r) == both_ways(web_pods["webpod1"], web_pods["webpod3"])
        assert not reach(lab, "webpod3", "webpod1", web_pods, seconds=1)


@pytest.mark.parametrize("peers", [SEED_PEER, PEER_PER_SUBNET], ids=["global-peer", "peer-per-subnet"])
def test_direct_across_subnets_fixed_by_bgp_peering_with_the_router(lab, web_pods, blocks, peers):
    """The BGP fix: the router learns each block from its node (FRR's `bgp listen range` accepts
    them). One session per node is what counts: the seed's global peer 192.168.10.254 reaches
    k8s-w0 too (multihop through its gateway); or each node peers on its own subnet. (Both for
    k8s-w0 at once is two sessions from one address to one FRR neighbour: they collide.)"""
    ips = {n.name: n.ip for n in lab.topology.nodes}
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="Never"):
        assert not reach(lab, "webpod3", "webpod1", web_pods, seconds=1)
        lab.apply(peers)
        try:
            want = {b: (ips[n], "bgp") for n, b in blocks.items()}
            assert wait_for(lambda: router_block_routes(lab) == want) or router_block_routes(lab) == want
            summary = parse.frr_bgp_summary(lab.sh("router", "vtysh -c 'show bgp summary json'"))
            assert set(ips.values()) <= set(summary.neighbor)
            assert reaches(lab, "webpod3", "webpod1", web_pods)
            assert reaches(lab, "webpod1", "webpod3", web_pods)
        finally:
            lab.delete(peers)
            assert wait_for(lambda: router_block_routes(lab) == {}), router_block_routes(lab)


def test_ipip_crosssubnet(lab, web_pods, blocks):
    with pool_mode(lab, blocks, ipipMode="CrossSubnet", vxlanMode="Never"):
        want = {blocks["k8s-m"]: (M, "enp0s8", "bird", False), blocks["k8s-w2"]: (W2, "enp0s8", "bird", False),
                blocks["k8s-w0"]: (W0, "tunl0", "bird", True), blocks["k8s-w1"]: ("blackhole", "bird")}
        assert wait_routes(lab, want) == want
        rtr, w2 = capture_webpod1_to_2_and_3(lab, web_pods)
    pod1, pod2, pod3 = web_pods["webpod1"], web_pods["webpod2"], web_pods["webpod3"]
    w, r = w2.packets, rtr.packets
    assert len(w) >= 6 and set(w.encap) == {"none"} and pairs(w, outer=True) == both_ways(pod1, pod2)
    assert len(r) >= 6 and set(r.encap) == {"ipip"}
    assert pairs(r, outer=True) == both_ways(W1, W0) and pairs(r) == both_ways(pod1, pod3)


def test_vxlan_always(lab, web_pods, blocks):
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="Always"):
        # the VTEP addresses exist once the mode is on; Felix, not BIRD, programs these: the routes through
        # vxlan.calico with its device route protocol (boot, which `ip route` hides), its blackhole with proto 80
        vt = {n: vtep(lab, n) for n in ("k8s-m", "k8s-w2", "k8s-w0")}
        want = {blocks[n]: (vt[n], "vxlan.calico", None, True) for n in vt} | {blocks["k8s-w1"]: ("blackhole", "80")}
        assert wait_routes(lab, want) == want
        link = lab.sh("k8s-w1", "ip -d link show vxlan.calico")
        assert "vxlan id 4096" in link and "dstport 4789" in link and f"local {W1}" in link
        # the node's own packets into the tunnel are masqueraded to its VTEP address; tunl0's rule is gone
        assert wait_for(lambda: tunnel_masquerade(lab) == [
            f"-o vxlan.calico -m comment --comment \"cali:e9dnSgSVNmIcpVhP\" {TUNNEL_MASQ}"], timeout=10)
        rtr, w2 = capture_webpod1_to_2_and_3(lab, web_pods)
    pod1, pod2, pod3 = web_pods["webpod1"], web_pods["webpod2"], web_pods["webpod3"]
    r, w = rtr.packets, w2.packets
    assert len(r) >= 6 and set(r.encap) == {"vxlan"} and set(r.vni) == {4096}
    assert set(r.outer_proto) == {17} and set(r.proto) == {6} and 80 in set(r.dport) | set(r.sport)
    assert pairs(r, outer=True) == both_ways(W1, W0) and pairs(r) == both_ways(pod1, pod3)
    assert len(w) >= 6 and set(w.encap) == {"vxlan"} and set(w.vni) == {4096}
    assert pairs(w, outer=True) == both_ways(W1, W2) and pairs(w) == both_ways(pod1, pod2)


def test_vxlan_crosssubnet(lab, web_pods, blocks):
    with pool_mode(lab, blocks, ipipMode="Never", vxlanMode="CrossSubnet"):
        want = {blocks["k8s-m"]: (M, "enp0s8", "80", True), blocks["k8s-w2"]: (W2, "enp0s8", "80", True),
                blocks["k8s-w0"]: (vtep(lab, "k8s-w0"), "vxlan.calico", None, True),
                blocks["k8s-w1"]: ("blackhole", "80")}
        assert wait_routes(lab, want) == want
        # the picture of it, read from the lab: every block under its node, k8s-w0's through VXLAN
        fig = plot.topology(lab, node="k8s-w1")
        assert {t.name for t in fig.data if t.showlegend is not False} == {
            "VXLAN via vxlan.calico", "direct via enp0s8 (no encapsulation)", "own block (blackhole)"}
        nodes = next(t for t in fig.data if t.name == "nodes")
        node_x = {label.split("<br>")[0]: x for label, x in zip(nodes.text, nodes.x, strict=True)}
        vx = next(t for t in fig.data if t.name == "VXLAN via vxlan.calico: blocks")
        assert list(vx.text) == [blocks["k8s-w0"]] and vx.x[0] == node_x["<b>k8s-w0</b>"]
        rtr, w2 = capture_webpod1_to_2_and_3(lab, web_pods)
    pod1, pod2, pod3 = web_pods["webpod1"], web_pods["webpod2"], web_pods["webpod3"]
    w, r = w2.packets, rtr.packets
    assert len(w) >= 6 and set(w.encap) == {"none"} and pairs(w, outer=True) == both_ways(pod1, pod2)
    assert len(r) >= 6 and set(r.encap) == {"vxlan"} and set(r.vni) == {4096}
    assert pairs(r, outer=True) == both_ways(W1, W0) and pairs(r) == both_ways(pod1, pod3)


# -- natOutgoing -------------------------------------------------------------------------------

def ping_idc(lab) -> tuple[bool, object]:
    """webpod1 pings the router's IDC address; (answered, packets the router saw)."""
    with lab.capture("router", bpf="icmp", seconds=20) as cap:
        out = lab.exec("webpod1", f"ping -c1 -W1 {IDC}", check=False)
    return " 0% packet loss" in out, cap.packets


def masquerading(lab) -> bool:
    """Felix's natOutgoing rule (kube-proxy's KUBE-POSTROUTING has a MASQUERADE of its own)."""
    return any(ln.startswith("-A cali-nat-outgoing") and "MASQUERADE" in ln
               for ln in lab.sh("k8s-w1", "iptables-save -t nat").splitlines())


def test_nat_outgoing_decides_the_source_the_idc_sees(lab, web_pods, blocks):
    pod1 = web_pods["webpod1"]
    try:
        assert masquerading(lab)
        ok, pk = ping_idc(lab)
        assert ok and pairs(pk) == both_ways(W1, IDC), pk  # natOutgoing true: the node's address

        patch_pool(lab, natOutgoing=False)
        assert wait_for(lambda: not masquerading(lab))
        ok, pk = ping_idc(lab)
        # the pod's own address arrives, and the router has no way back to it
        assert not ok and pairs(pk) == {(pod1, IDC)}, pk

        lab.apply(SEED_PEER)  # the router learns the pod blocks over BGP
        try:
            assert wait_for(lambda: router_block_routes(lab).get(blocks["k8s-w1"]) == (W1, "bgp"))
            ok, pk = ping_idc(lab)
            assert ok and pairs(pk) == both_ways(pod1, IDC), pk
        finally:
            lab.delete(SEED_PEER)
            assert wait_for(lambda: router_block_routes(lab) == {}), router_block_routes(lab)
    finally:
        restore_default(lab, blocks)
    assert masquerading(lab)


# -- refusals and round trips --------------------------------------------------------------------

def test_both_encapsulations_at_once_refused_and_nothing_changes(lab, web_pods, blocks):
    msg = "Cannot enable both VXLAN and IPIP on the same IPPool"
    before = (lab.calicoctl(f"get ippool {POOL} -o yaml"), pool_routes(lab), lab.sh("k8s-w1", "ip -d link"))
    with pytest.raises(CommandError) as e:
        patch_pool(lab, vxlanMode="Always")
    assert msg in str(e.value)
    pool = yaml.safe_load(before[0])
    pool["spec"]["vxlanMode"] = "CrossSubnet"
    with pytest.raises(CommandError) as e:
        lab.apply(pool)
    assert msg in str(e.value)
    assert (lab.calicoctl(f"get ippool {POOL} -o yaml"), pool_routes(lab), lab.sh("k8s-w1", "ip -d link")) == before


def dataplane(lab) -> dict:
    """What a user could diff on every node: routes (all tables), links, ip rules, iptables, IPAM use.

    The tunnel address itself may change when a mode is turned off and on again (IPAM releases
    it and hands out the next free one, as Calico's does), so it is written as <tunl0>."""
    out = {}
    for n in lab.topology.nodes:
        tun = re.findall(r"inet ([\d.]+)/", lab.sh(n.name, "ip -4 -o addr show dev tunl0"))
        assert len(tun) <= 1, (n.name, tun)
        routes = lab.sh(n.name, "ip route show table all")
        if tun:
            routes = re.sub(rf"\b{re.escape(tun[0])}\b", "<tunl0>", routes)
        out[n.name] = {
            "routes": sorted(routes.splitlines()),
            "links": lab.sh(n.name, "ip -d link show"),
            "rules": lab.sh(n.name, "ip rule show"),
            "iptables": re.sub(r"\[\d+:\d+\]", "", "\n".join(
                ln for ln in lab.sh(n.name, "iptables-save").splitlines() if not ln.startswith("#"))),
            "neigh": lab.sh(n.name, "ip neigh show nud permanent"),
            "tunl0 addresses": len(tun),
        }
    out["ipam"] = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks"))[
        ["grouping", "cidr", "ips_in_use"]].to_dict("records")
    return out


def test_switching_back_and_forth_leaves_nothing_stale(lab, web_pods, blocks):
    modes = [{"ipipMode": "Never", "vxlanMode": "Never"}, {"ipipMode": "CrossSubnet"},
             {"ipipMode": "Never", "vxlanMode": "Always"}, {"vxlanMode": "CrossSubnet"},
             {"vxlanMode": "Never", "ipipMode": "Always"}, {"natOutgoing": False}, {"natOutgoing": True}]
    before = dataplane(lab)
    try:
        for _ in range(3):
            for spec in modes:
                patch_pool(lab, **spec)
            assert wait_routes(lab, ipip_routes(blocks)) == ipip_routes(blocks)
            assert reaches(lab, "webpod1", "webpod3", web_pods)
    finally:
        restore_default(lab, blocks)
    after = dataplane(lab)
    for key in before:
        assert after[key] == before[key], key
    assert reaches(lab, "webpod1", "webpod2", web_pods) and reaches(lab, "webpod3", "webpod1", web_pods)
