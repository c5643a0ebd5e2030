"""The embedded lab behaves as the KANS Vagrant lab does (issue: Embedded lab)."""

from __future__ import annotations

import ipaddress
import json

import pytest

from kanslab import InvalidInput, LabError, parse, wait_for
from kanslab.errors import KanslabError

pytestmark = pytest.mark.lab




def test_node_status_lists_the_mesh(lab):
    df = parse.calico_node_status(lab.calicoctl("node status"))
    v4 = df[df.ip_version == 4]
    assert sorted(v4.peer_address) == ["192.168.10.101", "192.168.10.102", "192.168.20.100"]
    assert set(v4.peer_type) == {"node-to-node mesh"}
    assert set(v4.state) == {"up"} and set(v4["info"]) == {"Established"}


def test_birdcl_in_calico_node_shows_calicos_protocols_only(lab):
    pods = json.loads(lab.kubectl("get pods -n kube-system -o json"))["items"]
    w1 = next(p["metadata"]["name"] for p in pods
              if p["metadata"]["name"].startswith("calico-node-") and p["spec"]["nodeName"] == "k8s-w1")
    out = lab.kubectl(f"exec -n kube-system {w1} -- birdcl show protocols")
    assert out.startswith("BIRD v0.3.3+birdv1.6.8 ready.\n")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert rows["Mesh_192_168_10_10"][1:4] == ["BGP", "master", "up"] and rows["Mesh_192_168_10_10"][-1] == "Established"
    assert not [name for name in rows if name.startswith("calico_")]   # the lab's own pipe and kernel table


# The write-up's blocks, which Go's math/rand seeded as libcalico-go's randomBlockGenerator seeds it gives these
# hostnames (written out, not computed by the lab's own picker, so the check is independent of it)
WRITEUP_BLOCKS = {"k8s-m": "172.16.116.0/24", "k8s-w1": "172.16.158.0/24", "k8s-w2": "172.16.184.0/24",
                  "k8s-w0": "172.16.34.0/24"}


def test_each_node_blackholes_the_block_calicos_picker_gives_its_hostname(lab):
    for node, block in WRITEUP_BLOCKS.items():
        hole = parse.ip_route(lab.sh(node, "ip route show type blackhole"))
        assert list(hole.dst) == [block], node
    assert "| Block    | 172.16.116.0/24 |       256 | 4 (2%)     | 252 (98%)    |" in \
        lab.calicoctl("ipam show --show-blocks")


def test_kube_system_as_kubeadm_and_calico_v3_28_make_it(lab):
    """`kubectl get pods -A -o json`: calico-node on every node with the node's own IP, coredns x2 on
    k8s-m with pool IPs, calico-kube-controllers, kube-proxy on every node, the four static pods; all Running."""
    pods = [p for p in json.loads(lab.kubectl("get pods -A -o json"))["items"]
            if p["metadata"]["namespace"] == "kube-system"]
    node_ip = {n.name: str(n.ip) for n in lab.topology.nodes}
    assert set(node_ip) == {"k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"}
    pool = ipaddress.ip_network(lab.topology.cluster.pod_cidr)

    def named(prefix):
        return [p for p in pods if p["metadata"]["name"].startswith(prefix)]

    for daemon in ("calico-node-", "kube-proxy-"):
        on = named(daemon)
        assert sorted(p["spec"]["nodeName"] for p in on) == sorted(node_ip), daemon
        for p in on:
            assert p["spec"]["hostNetwork"] is True
            assert p["status"]["podIP"] == p["status"]["hostIP"] == node_ip[p["spec"]["nodeName"]]
    dns = named("coredns-")
    assert len(dns) >= 2 and {p["spec"]["nodeName"] for p in dns} == {"k8s-m"}
    assert all(ipaddress.ip_address(p["status"]["podIP"]) in pool and not p["spec"].get("hostNetwork") for p in dns)
    (kc,) = named("calico-kube-controllers-")
    assert ipaddress.ip_address(kc["status"]["podIP"]) in pool
    static = {f"{c}-k8s-m" for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}
    assert static <= {p["metadata"]["name"] for p in pods}
    assert [p["metadata"]["name"] for p in pods if p["status"]["phase"] != "Running"] == []
    assert all(c["ready"] and "running" in c["state"] for p in pods for c in p["status"]["containerStatuses"])


def blocks_by_node(lab) -> dict[str, list[str]]:
    text = lab.calicoctl("ipam show --show-blocks")
    blocks = parse.calico_ipam_blocks(text)
    return blocks


def test_route_n_on_w1_has_tunnel_routes_and_own_blackhole(lab):
    df = parse.route_n(lab.sh("k8s-w1", "route -n"))
    tun = df[df.iface == "tunl0"]
    nodes = {"192.168.10.10", "192.168.10.102", "192.168.20.100"}
    assert set(tun.gateway) == nodes, tun
    assert all(ipaddress.ip_network(p).subnet_of(ipaddress.ip_network("172.16.0.0/16")) for p in tun.prefix)
    assert (tun.genmask == "255.255.255.0").all()
    own = df[(df.iface == "*") & df.prefix.str.startswith("172.16.")]
    assert len(own) == 1
    ip = parse.ip_route(lab.sh("k8s-w1", "ip route"))
    tunl = ip[ip.dev == "tunl0"]
    assert tunl.onlink.all() and set(tunl.proto) == {"bird"}
    assert len(ip[(ip.type == "blackhole") & (ip.proto == "bird")]) == 1


def test_root_namespace_untouched(lab, root_before):
    from tests.lab.conftest import root_ns_snapshot

    assert root_ns_snapshot() == root_before


def test_pods_answer_each_other_across_nodes(lab, web_pods):
    for src in web_pods:
        for dst, ip in web_pods.items():
            if src == dst:
                continue
            out = lab.exec(src, f"curl -s --max-time 3 http://{ip}/")
            assert f"Hostname: {dst}" in out, (src, dst, out)


def test_router_sees_ipip_between_subnets(lab, web_pods):
    with lab.capture("router", bpf="ip proto 4", count=20, seconds=20) as cap:
        lab.exec("webpod1", f"ping -c 2 -W 2 {web_pods['webpod3']}")
    pk = cap.packets
    assert len(pk) >= 4
    assert set(pk.encap) == {"ipip"}
    outer = set(zip(pk.outer_src, pk.outer_dst, strict=True))
    assert outer <= {("192.168.10.101", "192.168.20.100"), ("192.168.20.100", "192.168.10.101")}
    assert set(pk.src) == {web_pods["webpod1"], web_pods["webpod3"]}


def test_bgp_peer_to_router_brings_idc_routes(lab):
    lab.apply("""apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-rtr
spec:
  peerIP: 192.168.10.254
  asNumber: 64512
""")
    try:
        for node in ("k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"):
            ok = wait_for(lambda node=node: "Established" in " ".join(
                r.info for r in parse.bird_protocols(lab.sh(node, "birdcl show protocols")).itertuples()
                if r.name == "Global_192_168_10_254"))
            assert ok, node
            routes = wait_for(lambda node=node: "10.1.1.0/24" in set(parse.ip_route(lab.sh(node, "ip route")).dst))
            assert routes, node
        df = parse.ip_route(lab.sh("k8s-w1", "ip route"))
        idc = df[df.dst.isin(["10.1.1.0/24", "10.1.2.0/24"])]
        assert set(idc.proto) == {"bird"} and set(idc.gateway) == {"192.168.10.254"}
        summary = parse.frr_bgp_summary(lab.sh("router", "vtysh -c 'show bgp summary json'"))
        assert {"192.168.10.10", "192.168.10.101", "192.168.10.102", "192.168.20.100"} <= set(summary.neighbor)
        lab.sh("k8s-w1", "ping -c1 -W2 10.1.1.254")
    finally:
        lab.calicoctl("delete bgppeer bgppeer-rtr")


@pytest.mark.parametrize("manifest,needle", [
    ("kind: Pod\napiVersion: v1\nmetadata: {name: bad\n", "line"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec: {nodeName: k8s-w9, containers: [{name: c, image: x}]}\n", "k8s-w9"),
    ("apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n", "Widget"),
])
def test_bad_input_changes_nothing(lab, manifest, needle):
    before = lab.kubectl("get pods -A -o json")
    with pytest.raises(KanslabError) as e:
        lab.apply(manifest)
    assert needle in str(e.value)
    assert lab.kubectl("get pods -A -o json") == before


def test_ipaddrs_outside_every_pool_waits_with_the_cnis_event(lab):
    manifest = """apiVersion: v1
kind: Pod
metadata:
  name: fixed
  annotations: {cni.projectcalico.org/ipAddrs: '["10.99.0.5"]'}
spec: {nodeName: k8s-w1, containers: [{name: c, image: x}]}
"""
    lab.apply(manifest)  # accepted, as the API server accepts it; the CNI refuses it on the node
    try:
        pod = json.loads(lab.kubectl("get pod fixed -o json"))
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
        with pytest.raises(LabError, match="not in a configured pool") as e:
            lab.wait_ready("fixed", timeout=60)
        assert "FailedCreatePodSandBox" in str(e.value)
        events = lab.kubectl("get events --field-selector involvedObject.name=fixed,type=Warning")
        assert "FailedCreatePodSandBox" in events and "The provided IP address is not in a configured pool" in events
        described = lab.kubectl("describe pod fixed")  # kubectl's own describe, through the lab's API
        assert "Warning  FailedCreatePodSandBox" in described and "not in a configured pool" in described
    finally:
        lab.delete(manifest)
    assert "fixed" not in lab.kubectl("get pods")


def test_overlapping_ippool_refused(lab):
    before = lab.calicoctl("get ippool -o wide")
    with pytest.raises(KanslabError):
        lab.apply("""apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: overlap}
spec: {cidr: 172.16.5.0/24}
""")
    assert lab.calicoctl("get ippool -o wide") == before


def test_unknown_host_is_a_clear_error(lab):
    with pytest.raises(InvalidInput) as e:
        lab.sh("k8s-w7", "true")
    assert "k8s-w7" in str(e.value) and "k8s-w1" in str(e.value)


def test_up_again_changes_nothing(lab):
    before = lab.sh("k8s-w1", "ip -j route")
    assert lab.up(progress=False) is False
    assert lab.sh("k8s-w1", "ip -j route") == before


def test_node_podcidr_differs_from_calico_blocks(lab):
    cidrs = lab.kubectl("get nodes -o jsonpath='{.items[*].spec.podCIDR}'").split()
    assert cidrs[0] == "172.16.0.0/24"
    blocks = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks"))
    assert not set(cidrs) & set(blocks[blocks.grouping == "Block"].cidr)
    nodes = json.loads(lab.kubectl("get nodes -o json"))["items"]
    assert {n["metadata"]["name"] for n in nodes} == {"k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"}
