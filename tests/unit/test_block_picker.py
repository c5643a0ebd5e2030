"""Calico's block picker: each node's block is the one libcalico-go's randomBlockGenerator gives its
hostname. Expected blocks for names outside the write-up were printed by Go running Calico's
algorithm (go1.19 math/rand + math/big, hash/fnv)."""

import dataclasses
import ipaddress

import pytest

from kanslab.emulator import ipam
from kanslab.emulator import resources as res
from kanslab.emulator.block_picker import determine_seed, first_unclaimed_block, random_block_generator
from kanslab.emulator.datastore import Datastore
from kanslab.topology import load_topology


def _bootstrap(tmp_path, block_size, pod_cidr="172.16.0.0/16"):
    topo = load_topology("kans3")
    topo.cluster = dataclasses.replace(topo.cluster, pod_cidr=ipaddress.IPv4Network(pod_cidr), block_size=block_size)
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    return ds


def _first_block_of(ds):
    """node -> its tunnel address's block (the first block it claimed)."""
    out = {}
    for b in ds.list("IPAMBlock"):
        node = ipam.block_owner(b)
        tunnel = ds.get("Node", node)["metadata"]["annotations"][ipam.ANN_IPIP_ADDR]
        if ipam.find_allocation(ds, tunnel)[0]["spec"]["cidr"] == b["spec"]["cidr"]:
            out[node] = b["spec"]["cidr"]
    return out


def test_kans_nodes_get_the_write_ups_blocks_with_blocksize_24(tmp_path):
    assert _first_block_of(_bootstrap(tmp_path, 24)) == {
        "k8s-m": "172.16.116.0/24", "k8s-w1": "172.16.158.0/24", "k8s-w2": "172.16.184.0/24",
        "k8s-w0": "172.16.34.0/24"}


def test_kans_nodes_get_the_write_ups_route_n_blocks_with_the_default_26(tmp_path):
    ds = _bootstrap(tmp_path, 26)
    assert _first_block_of(ds) == {
        "k8s-w1": "172.16.228.64/26", "k8s-w2": "172.16.46.0/26", "k8s-w0": "172.16.8.128/26",
        "k8s-m": "172.16.29.0/26"}
    # the tunnel address is the block's first ordinal, as Calico hands it out
    assert ds.get("Node", "k8s-w1")["metadata"]["annotations"][ipam.ANN_IPIP_ADDR] == "172.16.228.64"


@pytest.mark.parametrize("host,pool,size,block", [
    ("k8s-w3", "172.16.0.0/16", 24, "172.16.24.0/24"),
    ("k8s-w4", "172.16.0.0/16", 26, "172.16.23.64/26"),
    ("k8s-w5", "172.16.0.0/16", 24, "172.16.193.0/24"),
    ("node-a", "10.244.0.0/16", 26, "10.244.174.128/26"),
    ("worker-17", "192.168.0.0/20", 28, "192.168.12.112/28"),
    ("", "172.16.0.0/16", 26, "172.16.67.192/26"),
])
def test_other_hostnames_and_pools_match_go(host, pool, size, block):
    assert next(random_block_generator(pool, size, host)) == block


def test_the_walk_goes_up_from_the_random_start_and_wraps_once_round():
    assert list(random_block_generator("10.0.0.0/28", 30, "k8s-w0")) == [
        "10.0.0.8/30", "10.0.0.12/30", "10.0.0.0/30", "10.0.0.4/30"]
    assert len(list(random_block_generator("172.16.0.0/16", 26, "k8s-w1"))) == 1024


def test_a_claimed_or_wholly_reserved_block_moves_the_node_on_along_its_walk():
    taken = {"10.0.0.8/30", "10.0.0.12/30"}
    assert first_unclaimed_block("10.0.0.0/28", 30, "k8s-w0", taken.__contains__) == "10.0.0.0/30"
    assert first_unclaimed_block("10.0.0.0/28", 30, "k8s-w0", taken.__contains__,
                                 lambda cidr: cidr == "10.0.0.0/30") == "10.0.0.4/30"
    assert first_unclaimed_block("10.0.0.0/28", 30, "k8s-w0", lambda cidr: True) is None


def test_nodes_claim_in_topology_order_and_collisions_probe_on(tmp_path):
    # four /30 blocks: k8s-m, k8s-w1 and k8s-w2 all start at 10.0.0.0/30, k8s-w0 at 10.0.0.8/30
    assert _first_block_of(_bootstrap(tmp_path, 30, "10.0.0.0/28")) == {
        "k8s-m": "10.0.0.0/30", "k8s-w1": "10.0.0.4/30", "k8s-w2": "10.0.0.8/30", "k8s-w0": "10.0.0.12/30"}


def test_slash_32_blocks_are_seeded_from_the_clock_not_the_hostname():
    assert determine_seed(26, "k8s-w1") == 2273881732
    assert determine_seed(32, "k8s-w1") != determine_seed(32 - 1, "k8s-w1")
