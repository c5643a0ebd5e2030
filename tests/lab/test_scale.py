"""A lab with extra workers (`workers=N`): placement by the topology's rule, the full mesh, and the
switch to a route reflector the Calico way (issue 16). Its own small lab, torn down even on failure."""

from __future__ import annotations

import json
import os

import pytest

import kanslab
from kanslab import parse, wait_for

from .conftest import _need_root

pytestmark = pytest.mark.lab
N = 8
RR_STEPS = [
    ("calicoctl", """patch node k8s-m -p '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'"""),
    ("kubectl", "label node k8s-m route-reflector=true"),
]
RR_PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "peer-with-route-reflectors"},
           "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}}
MESH_OFF = {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
            "spec": {"nodeToNodeMeshEnabled": False}}


@pytest.fixture(scope="module")
def big():
    _need_root()
    lab = kanslab.connect("local", prefix=f"ks{os.getpid() % 10000}", workers=N)
    try:
        lab.up(progress=False)
        yield lab
    finally:
        lab.down()


def _peers(lab, host):
    df = parse.calico_node_status(lab.sh(host, "calicoctl node status"))
    return df[df.ip_version == 4]


def test_extra_workers_sit_on_alternate_racks_behind_the_router(big):
    assert big.hosts[-1] == f"k8s-w{N}" and len(big.hosts) == N + 3
    addrs = json.loads(big.sh("k8s-w3", "ip -j -4 addr show dev enp0s8"))[0]["addr_info"][0]
    assert (addrs["local"], addrs["prefixlen"]) == ("192.168.20.103", 24)
    assert "default via 192.168.20.254 dev enp0s8" in big.sh("k8s-w3", "ip route")
    assert "default via 192.168.10.254 dev enp0s8" in big.sh("k8s-w4", "ip route")
    # k8s-w4 reaches k8s-w3 through the router, as k8s-w1 reaches k8s-w0
    assert "via 192.168.10.254" in big.sh("k8s-w4", "ip route get 192.168.20.103")


def test_extra_workers_blackhole_the_blocks_calicos_picker_gives_their_hostnames(big):
    # printed by Go (math/rand, math/big, hash/fnv) running libcalico-go's randomBlockGenerator for each
    # hostname in 172.16.0.0/16 with blockSize 24: independent of the lab's own picker
    go = {"k8s-w3": "172.16.24.0/24", "k8s-w4": "172.16.156.0/24", "k8s-w5": "172.16.193.0/24",
          "k8s-w6": "172.16.163.0/24", "k8s-w7": "172.16.56.0/24", "k8s-w8": "172.16.173.0/24"}
    for host, block in list(go.items())[:N - 2]:
        holes = [ln.split()[1] for ln in big.sh(host, "ip route show type blackhole").splitlines()]
        assert holes == [block], host


def test_the_full_mesh_has_a_session_per_pair(big):
    peers = _peers(big, "k8s-m")
    assert len(peers) == N + 1 and set(peers.peer_type) == {"node-to-node mesh"}
    assert set(peers["info"]) == {"Established"}


def test_route_reflector_the_calico_way(big):
    for tool, args in RR_STEPS:
        big.sh("k8s-m", f"{tool} {args}")
    big.apply(RR_PEER)
    big.apply(MESH_OFF)
    far = f"k8s-w{N}"

    def one_reflector_session():
        peers = _peers(big, far)
        return (len(peers) == 1 and peers.iloc[0].peer_address == "192.168.10.10"
                and peers.iloc[0].peer_type == "node specific" and peers.iloc[0]["info"] == "Established")

    assert wait_for(one_reflector_session, timeout=20)
    blocks = parse.calico_ipam_blocks(big.calicoctl("ipam show --show-blocks"))
    every = set(blocks[blocks.grouping == "Block"].cidr)
    own = {ln.split()[1] for ln in big.sh(far, "ip route").splitlines() if ln.startswith("blackhole ")}
    assert len(every) == N + 2 and len(own) == 1

    def tunnel_routes():  # a route to every other node's block, reflected by k8s-m
        return {ln.split()[0] for ln in big.sh(far, "ip route").splitlines() if " dev tunl0 " in ln} >= every - own

    assert wait_for(tunnel_routes, timeout=20)
    rr = _peers(big, "k8s-m")
    assert len(rr) == N + 1 and set(rr.peer_type) == {"node specific"}
    assert wait_for(lambda: set(_peers(big, "k8s-m")["info"]) == {"Established"}, timeout=20)
    birds = big.sh("k8s-m", "birdcl show protocols")
    assert "Node_192_168_20_103" in birds and "Mesh_" not in birds


def test_service_cluster_ips_give_the_router_ecmp_routes(big):
    """Every node advertises the service CIDR; FRR keeps `maximum-paths 4` of them and the kernel
    gets one multipath route, hashed on L4 ports (fib_multipath_hash_policy=1)."""
    big.apply([{"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "bgppeer-router"},
                "spec": {"peerIP": "192.168.10.254", "asNumber": 64512}},
               {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
                "spec": {"nodeToNodeMeshEnabled": False, "serviceClusterIPs": [{"cidr": "10.200.1.0/24"}]}}])
    assert "blackhole 10.200.1.0/24 proto bird" in big.sh("k8s-w3", "ip route")

    def multipath():
        rows = json.loads(big.sh("router", "ip -j route show 10.200.1.0/24") or "[]")
        return rows and len(rows[0].get("nexthops", [])) == 4 and rows[0]["nexthops"]

    hops = wait_for(multipath, timeout=20)
    assert hops and all(h["gateway"].startswith("192.168.") for h in hops)
    assert big.sh("router", "sysctl -n net.ipv4.fib_multipath_hash_policy").strip() == "1"
