"""Felix's static chains, ipsets and rule ids, without root."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import replace

import pytest

from kanslab.emulator import felix_tables as ft
from kanslab.emulator.felix import NodeInfo, NodeView, Pool


def _node(ip: str) -> NodeInfo:
    return NodeInfo(name=ip, ip=ip, network=ipaddress.ip_network("192.168.0.0/16"), as_number=64512)


def _view(**pool):
    base = {"ipip_mode": "Always", "nat_outgoing": True, "disabled": False}
    base.update(pool)
    net = ipaddress.ip_network
    return NodeView(name="k8s-w1", ip="192.168.10.101", network=net("192.168.10.0/24"), as_number=64512,
                    ipip_tunnel_addr="172.16.148.0",
                    nodes=[_node("192.168.10.102"), _node("192.168.20.100")],
                    pools=[Pool("default-ipv4-ippool", net("172.16.0.0/16"), **base),
                           Pool("other", net("10.10.0.0/16"), ipip_mode="Never", nat_outgoing=False, disabled=True)])


def test_ipsets_hold_every_pool_disabled_included_and_every_host():
    sets = ft.ipsets(_view())
    assert sets["cali40all-ipam-pools"] == ("hash:net", ["10.10.0.0/16", "172.16.0.0/16"])
    assert sets["cali40masq-ipam-pools"] == ("hash:net", ["172.16.0.0/16"])
    assert sets["cali40all-hosts-net"][1] == ["192.168.10.101", "192.168.10.102", "192.168.20.100"]
    assert sets["cali40this-host"] == ("hash:ip", ["127.0.0.1", "172.16.148.0", "192.168.10.101"])
    assert "cali40all-hosts-net" not in ft.ipsets(_view(ipip_mode="Never"))
    text = ft.ipset_restore(sets)
    assert "create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576 -exist\n" \
           "flush cali40masq-ipam-pools\nadd cali40masq-ipam-pools 172.16.0.0/16\n" in text


def test_nat_outgoing_matches_the_pool_sets_with_felix_ids():
    lines = ft.nat_rules(_view())
    assert '-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set ' \
           'cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully' in lines
    assert '-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing' in lines
    no_masq = _view(nat_outgoing=False)
    assert not [ln for ln in ft.nat_rules(replace(no_masq, pools=no_masq.pools[:1])) if "-A cali-nat-outgoing" in ln]


def test_the_host_masquerades_into_the_tunnel_it_has():
    """static.go: tunl0's MASQUERADE (Felix's fixed id) with IPIP, vxlan.calico's with VXLAN, neither without."""
    ipip = ft.with_rule_ids(ft.nat_rules(_view()))
    assert '-A cali-POSTROUTING -m comment --comment "cali:SXWvdsbh4Mw7wOln" -o tunl0 -m addrtype ! --src-type ' \
           'LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully' in ipip
    assert not [ln for ln in ipip if "vxlan.calico" in ln]
    base = _view()
    vxlan = replace(base, ipip_tunnel_addr=None, vxlan_tunnel_addr="172.16.148.1",
                    pools=[replace(p, ipip_mode="Never", vxlan_mode="Always") for p in base.pools[:1]])
    lines = ft.with_rule_ids(ft.nat_rules(vxlan))
    # the id research/felix-dataplane.md verified for a VXLAN-only node
    assert [ln.split('"')[1] for ln in lines if "-o vxlan.calico" in ln] == ["cali:e9dnSgSVNmIcpVhP"]
    assert not [ln for ln in lines if "tunl0" in ln]
    never = replace(base, pools=[replace(p, ipip_mode="Never") for p in base.pools])
    assert not [ln for ln in ft.nat_rules(never) if "MASQUERADE" in ln and "-o " in ln]


def test_raw_and_mangle_hook_the_builtin_chains():
    raw, mangle = ft.raw_rules(), ft.mangle_rules()
    assert raw[0] == "*raw" and mangle[0] == "*mangle"
    assert '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING' in raw
    assert '-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING' in mangle


def test_rule_ids_chain_sha224_over_felix_rendering():
    lines = ["*filter", ":cali-x - [0:0]", "-A cali-x -j ACCEPT", "-A cali-x -j DROP", "COMMIT"]
    out = ft.with_rule_ids(lines)
    h1 = hashlib.sha224(hashlib.sha224(b"cali-x").digest() + b"-A cali-x HASH --jump ACCEPT").digest()
    h2 = hashlib.sha224(h1 + b"-A cali-x HASH --jump DROP").digest()
    ids = [base64.urlsafe_b64encode(h).decode()[:16] for h in (h1, h2)]
    assert out[2:4] == [f'-A cali-x -m comment --comment "cali:{ids[0]}" -j ACCEPT',
                        f'-A cali-x -m comment --comment "cali:{ids[1]}" -j DROP']
    fixed = '-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set ' \
        'cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully'
    assert ft.with_rule_ids(["*nat", fixed])[1] == fixed  # Felix's own id comes out
    with pytest.raises(ValueError):  # a fixed id that is not Felix's hash is a bug, not a silent pass
        ft.with_rule_ids(["*nat", fixed.replace("flqWnvo8yq4ULQLa", "AAAAAAAAAAAAAAAA")])


# A real node's dump (AKS with Calico, iptables --list-rules; ../shared/samples): endpoint chains,
# dispatch chains and profiles, with the ids Felix computed.
_AKS = """-A cali-from-wl-dispatch -i cali112d888c0c2 -m comment --comment "cali:887K6j2m0yTxV8XZ" -g cali-fw-cali112d888c0c2
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:gxYrST51OJyfBgWw" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:6xENQhO2T0QW5LgN" -m conntrack --ctstate INVALID -j DROP
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:O7MDTYmYN54jUWVF" -j MARK --set-xmark 0x0/0x10000
-A cali-fw-cali112d888c0c2 -p udp -m comment --comment "cali:pJp4jdAzPgU1geph" -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 4789 -j DROP
-A cali-fw-cali112d888c0c2 -p ipencap -m comment --comment "cali:rM5VAS66uaB9uI7_" -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:s_9J1YgpafK_gEIJ" -j cali-pro-kns.kube-system
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:djdRyha1SrYGGpRJ" -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:Agp1xuefUF89n6q7" -j cali-pro-_CVSZITRyIpEmH8AB6H
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:ctlnSZ9l6AD7YocC" -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN
-A cali-fw-cali112d888c0c2 -m comment --comment "cali:ThfJzx8K_BY2PCkD" -m comment --comment "Drop if no profiles matched" -j DROP
-A cali-pri-kns.kube-system -m comment --comment "cali:J1TyxtHWd0qaBGK-" -m comment --comment "Profile kns.kube-system ingress" -j MARK --set-xmark 0x10000/0x10000
-A cali-pri-kns.kube-system -m comment --comment "cali:QIB6k7eEKdIg73Jp" -m mark --mark 0x10000/0x10000 -j RETURN
-A cali-pro-_CVSZITRyIpEmH8AB6H -m comment --comment "cali:jzJff9OzGIv_OyaY" -m comment --comment "Profile ksa.kube-system.metrics-server egress"
"""


def test_rule_ids_are_felixs_on_a_real_dump():
    lines = _AKS.splitlines()
    ids = [ft._ID.search(ln).group(1) for ln in lines]
    assert [ft._ID.search(ln).group(1) for ln in ft.with_rule_ids(["*filter"] + lines)[1:]] == ids


def test_vxlan_set_lists_the_other_nodes_with_a_vtep():
    import dataclasses
    view = _view(ipip_mode="Never", vxlan_mode="Always")
    view = dataclasses.replace(view, nodes=[dataclasses.replace(view.nodes[0], vxlan_tunnel_addr="172.16.1.1"),
                                            view.nodes[1]])
    sets = ft.ipsets(view)
    assert sets["cali40all-vxlan-net"] == ("hash:net", ["192.168.10.102"])  # not this node, not one without a VTEP
    assert "cali40all-vxlan-net" not in ft.ipsets(_view())


def test_ipset_restore_writes_only_the_changes_to_sets_already_written():
    """ipsets.go writeDeltas: a set in use is never flushed, its members change one by one."""
    before = {"cali40s:A": ("hash:net", ["10.0.0.1", "10.0.0.2"]), "cali40this-host": ("hash:ip", ["127.0.0.1"])}
    after = {"cali40s:A": ("hash:net", ["10.0.0.2", "10.0.0.3"]), "cali40this-host": ("hash:ip", ["127.0.0.1"]),
             "cali40s:B": ("hash:net", [])}
    assert ft.ipset_restore(after, before).splitlines() == [
        "del cali40s:A 10.0.0.1 --exist", "add cali40s:A 10.0.0.3 --exist",
        "create cali40s:B hash:net family inet hashsize 1024 maxelem 1048576 -exist", "flush cali40s:B"]
    assert ft.ipset_restore(before, before) == ""
