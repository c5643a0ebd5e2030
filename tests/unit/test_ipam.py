"""Calico IPAM semantics: blocks and affinity, assignment order, borrowing, strictAffinity, tunnels."""


from kanslab.emulator import ipam, pod_start
from kanslab.emulator import resources as res
from kanslab.emulator.datastore import Datastore
from kanslab.topology import cluster_config, load_topology

from .fixtures import assert_sandbox_refused


def _topology(block_size=24, pod_cidr="172.16.0.0/16", ipip="Always", vxlan="Never"):
    """The KANS topology with another pod CIDR, block size or default pool modes."""
    topo = load_topology("kans3")
    topo.cluster = cluster_config({"pod_cidr": pod_cidr, "block_size": block_size,
                                   "default_pool": {"ipipMode": ipip, "vxlanMode": vxlan}})
    return topo


def _lab(tmp_path, topo=None, name="ds.sqlite"):
    topo = topo or load_topology("kans3")
    ds = Datastore(tmp_path / name)
    res.bootstrap(ds, topo)
    return ds, topo


def _pod(name, node, **annotations):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": name, "image": "nicolaka/netshoot"}]}}


def _pod_ip(ds, name, ns="default"):
    return ds.get("Pod", name, ns)["status"]["podIP"]


def _blocks(ds):
    return {b["spec"]["cidr"]: ipam.block_owner(b) for b in ds.list("IPAMBlock")}


def test_each_node_claims_one_block_with_its_tunnel_address_at_dot_zero(tmp_path):
    ds, _ = _lab(tmp_path)
    blocks = _blocks(ds)
    assert sorted(blocks.values()) == ["k8s-m", "k8s-w0", "k8s-w1", "k8s-w2"]
    for cidr, owner in blocks.items():
        assert cidr.startswith("172.16.") and cidr.endswith(".0/24")
        node = ds.get("Node", owner)
        assert node["metadata"]["annotations"][ipam.ANN_IPIP_ADDR] == cidr.split("/")[0]
        affinity = ds.get("BlockAffinity", ipam.affinity_name(owner, cidr))
        assert affinity["spec"] == {"node": owner, "cidr": cidr, "state": "confirmed", "deleted": "false"}


def test_block_choice_is_reproducible(tmp_path):
    first, _ = _lab(tmp_path, name="a.sqlite")
    second, _ = _lab(tmp_path, name="b.sqlite")
    assert _blocks(first) == _blocks(second)


def test_pods_get_the_next_ips_and_released_ones_are_not_reused_at_once(tmp_path):
    ds, topo = _lab(tmp_path)
    block = next(c for c, o in _blocks(ds).items() if o == "k8s-w1")
    prefix = block.rsplit(".", 1)[0]  # 172.16.x
    res.apply(ds, topo, [_pod("a", "k8s-w1"), _pod("b", "k8s-w1"), _pod("c", "k8s-w1")])
    assert [_pod_ip(ds, n) for n in "abc"] == [f"{prefix}.1", f"{prefix}.2", f"{prefix}.3"]
    res.delete(ds, topo, _pod("b", "k8s-w1"))
    res.apply(ds, topo, _pod("d", "k8s-w1"))
    assert _pod_ip(ds, "d") == f"{prefix}.4"  # .2 went to the back of the free list
    assert _blocks(ds)[block] == "k8s-w1"       # the block stays with the node


def test_full_block_makes_the_node_claim_another_and_released_ips_come_back_last(tmp_path):
    # /30 blocks: 4 addresses, the first taken by the tunnel address
    ds, topo = _lab(tmp_path, _topology(block_size=30, pod_cidr="10.9.0.0/24"))
    res.apply(ds, topo, [_pod(f"p{i}", "k8s-w1") for i in range(4)])
    w1_blocks = [c for c, o in _blocks(ds).items() if o == "k8s-w1"]
    assert len(w1_blocks) == 2
    first = next(c for c in w1_blocks if ds.get("Node", "k8s-w1")["metadata"]["annotations"][ipam.ANN_IPIP_ADDR]
                 == c.split("/")[0])
    base = first.split("/")[0].rsplit(".", 1)
    assert [_pod_ip(ds, f"p{i}") for i in range(3)] == [f"{base[0]}.{int(base[1]) + k}" for k in (1, 2, 3)]
    assert _pod_ip(ds, "p3") not in first


def test_specific_ip_in_an_unclaimed_block_claims_the_whole_block(tmp_path):
    ds, topo = _lab(tmp_path)
    free = next(f"172.16.{n}.0/24" for n in range(256) if f"172.16.{n}.0/24" not in _blocks(ds))
    ip = free.replace(".0/24", ".77")
    res.apply(ds, topo, _pod("pinned", "k8s-w2", **{"cni.projectcalico.org/ipAddrs": f'["{ip}"]'}))
    assert _pod_ip(ds, "pinned") == ip
    assert _blocks(ds)[free] == "k8s-w2"


def test_specific_ip_errors_use_calicos_texts(tmp_path):
    ds, topo = _lab(tmp_path)
    w1_block = next(c for c, o in _blocks(ds).items() if o == "k8s-w1")
    in_w1 = w1_block.replace(".0/24", ".50")
    res.apply(ds, topo, _pod("x", "k8s-w2", **{"cni.projectcalico.org/ipAddrs": '["10.99.0.1"]'}))
    assert_sandbox_refused(ds, "x", "The provided IP address is not in a configured pool")
    # default strictAffinity false: borrowed from k8s-w1's block
    res.apply(ds, topo, _pod("borrower", "k8s-w2", **{"cni.projectcalico.org/ipAddrs": f'["{in_w1}"]'}))
    with ds.snapshot() as tx:
        borrowed = ipam.borrowed_ips(tx)
    assert [(b["ip"], b["borrowing_node"], b["block_owner"], b["allocated_to"]) for b in borrowed] == \
        [(in_w1, "k8s-w2", "k8s-w1", "default/borrower")]
    res.apply(ds, topo, _pod("again", "k8s-w1", **{"cni.projectcalico.org/ipAddrs": f'["{in_w1}"]'}))
    assert_sandbox_refused(ds, "again", "Address already assigned in block")
    with ds.transaction() as tx:
        ipam.set_strict_affinity(tx, True)
    other = w1_block.replace(".0/24", ".51")
    with ds.snapshot() as tx:
        before = ipam.borrowed_ips(tx)
    res.apply(ds, topo, _pod("strict", "k8s-w2", **{"cni.projectcalico.org/ipAddrs": f'["{other}"]'}))
    assert_sandbox_refused(ds, "strict", "Block host affinity does not match")
    with ds.snapshot() as tx:
        assert ipam.borrowed_ips(tx) == before  # the failed CNI ADD left nothing in IPAM


def test_strict_affinity_stops_spilling_into_other_nodes_blocks(tmp_path):
    # a /28 pool of /29 blocks: two blocks, k8s-m (tunnel, coredns x2, kube-controllers: 4 of 8 in use)
    # and k8s-w1 each claim one at bootstrap
    topo = _topology(block_size=29, pod_cidr="10.9.0.0/28")
    topo.nodes = topo.nodes[:2]
    ds, topo = _lab(tmp_path, topo)
    with ds.transaction() as tx:
        ipam.set_strict_affinity(tx, True)
    res.apply(ds, topo, [_pod(f"p{i}", "k8s-w1") for i in range(7)])
    res.apply(ds, topo, _pod("p7", "k8s-w1"))
    assert_sandbox_refused(ds, "p7", "strictAffinity is true")
    with ds.transaction() as tx:
        ipam.set_strict_affinity(tx, False)
    p7 = ds.get("Pod", "p7", "default")  # kubelet tries again: now borrowed from k8s-m's block
    assert pod_start.start(ds, "default", "p7", p7["metadata"]["uid"], attempt=1) is None
    with ds.snapshot() as tx:
        assert [b["allocated_to"] for b in ipam.borrowed_ips(tx)] == ["default/p7"]


def test_switching_ipip_to_vxlan_moves_the_tunnel_addresses(tmp_path):
    ds, topo = _lab(tmp_path)
    res.apply(ds, topo, _pod("a", "k8s-w1"))
    pool = ds.get("IPPool", "default-ipv4-ippool")
    pool["spec"].update(ipipMode="Never", vxlanMode="Always")
    res.apply(ds, topo, pool)
    ann = ds.get("Node", "k8s-w1")["metadata"]["annotations"]
    assert ipam.ANN_IPIP_ADDR not in ann
    block = next(c for c, o in _blocks(ds).items() if o == "k8s-w1")
    assert ann[ipam.ANN_VXLAN_ADDR] == block.replace(".0/24", ".2")  # .0 released, .1 is pod a
    mac = ann[ipam.ANN_VXLAN_MAC]
    assert int(mac.split(":")[0], 16) & 0x3 == 0x2  # locally administered unicast
    pool = ds.get("IPPool", "default-ipv4-ippool")
    pool["spec"].update(ipipMode="CrossSubnet", vxlanMode="Never")
    res.apply(ds, topo, pool)
    ann = ds.get("Node", "k8s-w1")["metadata"]["annotations"]
    assert ipam.ANN_VXLAN_ADDR not in ann and ipam.ANN_VXLAN_MAC not in ann
    assert ann[ipam.ANN_IPIP_ADDR] == block.replace(".0/24", ".3")


def test_direct_mode_has_no_tunnel_address_and_blocks_come_with_the_first_pod(tmp_path):
    ds, topo = _lab(tmp_path, _topology(ipip="Never"))
    assert set(_blocks(ds).values()) == {"k8s-m"}  # claimed for coredns and calico-kube-controllers
    res.apply(ds, topo, _pod("a", "k8s-w0"))
    assert _pod_ip(ds, "a").endswith(".0")  # a fresh block's first ordinal
    assert ipam.ANN_IPIP_ADDR not in ds.get("Node", "k8s-w0")["metadata"]["annotations"]


def test_disabled_pool_assigns_nothing(tmp_path):
    ds, topo = _lab(tmp_path)
    pool = ds.get("IPPool", "default-ipv4-ippool")
    pool["spec"]["disabled"] = True
    res.apply(ds, topo, pool)
    res.apply(ds, topo, _pod("a", "k8s-w1"))
    assert_sandbox_refused(ds, "a", "no configured Calico pools for node k8s-w1")


def test_utilization_counts_tunnel_addresses_and_pods(tmp_path):
    ds, topo = _lab(tmp_path)
    res.apply(ds, topo, [_pod("a", "k8s-w1"), _pod("b", "k8s-w1"), _pod("c", "k8s-w0")])
    with ds.snapshot() as tx:
        (pool,) = ipam.utilization(tx)
    assert (pool["cidr"], pool["capacity"], pool["in_use"]) == ("172.16.0.0/16", 65536, 10)
    by_owner = {_blocks(ds)[b["cidr"]]: b["in_use"] for b in pool["blocks"]}
    assert by_owner == {"k8s-m": 4, "k8s-w1": 3, "k8s-w2": 1, "k8s-w0": 2}
    assert [b["cidr"] for b in pool["blocks"]] == sorted(b["cidr"] for b in pool["blocks"])


def test_allocation_timestamp_is_gos_time_string(tmp_path):
    """time.Now().UTC().String(): nanoseconds without trailing zeros, no monotonic suffix."""
    import re

    ds, topo = _lab(tmp_path)
    res.apply(ds, topo, _pod("a", "k8s-w1"))
    block, _, alloc = ipam.find_allocation(ds, _pod_ip(ds, "a"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,8}[1-9])? \+0000 UTC", alloc["attrs"]["timestamp"])
