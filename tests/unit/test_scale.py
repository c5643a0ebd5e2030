"""Extra workers (one placement rule in the topology YAML) and route reflectors as confd renders them."""

import pytest

from kanslab import InvalidInput
from kanslab.emulator import ipam
from kanslab.emulator import resources as res
from kanslab.emulator.bird import bird_node, render_bird_cfg
from kanslab.emulator.block_picker import first_unclaimed_block
from kanslab.emulator.datastore import Datastore
from kanslab.emulator.felix import node_views
from kanslab.topology import load_topology

from .fixtures import cctl, kctl

RR_PEER = """apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
"""
MESH_OFF = """apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  nodeToNodeMeshEnabled: false
"""


def test_extra_workers_alternate_racks_behind_the_router():
    topo = load_topology("kans3", workers=8)
    nodes = {n.name: (n.ip, n.subnet, str(n.gateway)) for n in topo.nodes}
    assert list(nodes)[:4] == ["k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"]  # the KANS nodes as listed
    assert nodes["k8s-w3"] == ("192.168.20.103", "net2", "192.168.20.254")
    assert nodes["k8s-w4"] == ("192.168.10.104", "net1", "192.168.10.254")
    assert nodes["k8s-w8"] == ("192.168.10.108", "net1", "192.168.10.254")
    assert len(topo.nodes) == 10 and topo.workers == 8
    big = load_topology("kans3", workers=100)
    assert len(big.nodes) == 102 and len({n.ip for n in big.nodes}) == 102
    assert sum(n.subnet == "net2" for n in big.nodes) == 50  # w0 and the 49 odd ones from w3 to w99
    assert [n.name for n in load_topology("kans3", workers=1).nodes] == ["k8s-m", "k8s-w1", "k8s-w0"]
    assert [n.name for n in load_topology("kans3").nodes] == ["k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"]


@pytest.mark.parametrize("bad", [-1, 154, 2.5, "8", True])
def test_workers_out_of_range_are_refused(bad):
    with pytest.raises(InvalidInput, match="workers must be a whole number from 0 to 153"):
        load_topology("kans3", workers=bad)


def test_a_topology_without_the_rule_cannot_grow(tmp_path):
    text = (load_topology("kans3").source and
            __import__("importlib.resources").resources.files("kanslab.topologies").joinpath("kans3.yaml").read_text())
    p = tmp_path / "plain.yaml"
    p.write_text(text.split("extra_workers:")[0])
    assert len(load_topology(p).nodes) == 4
    with pytest.raises(InvalidInput, match="no extra_workers rule"):
        load_topology(p, workers=5)


@pytest.fixture()
def big(tmp_path):
    from kanslab.emulator.cli import CliContext

    topo = load_topology("kans3", workers=8)
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    return CliContext(ds, topo, cwd=tmp_path)


def test_extra_workers_get_the_block_calicos_algorithm_picks(big):
    blocks = {ipam.block_owner(b): b["spec"]["cidr"] for b in big.ds.list("IPAMBlock")}
    assert len(blocks) == 10
    # k8s-w3 joins after the KANS nodes, so its walk skips their blocks, as Calico's would
    taken = {blocks[n] for n in ("k8s-m", "k8s-w1", "k8s-w2", "k8s-w0")}
    assert blocks["k8s-w3"] == first_unclaimed_block("172.16.0.0/16", 24, "k8s-w3", taken.__contains__)
    ok, out, _ = cctl(big, "get nodes -o wide")
    assert ok == 0 and "k8s-w8   (64512)   192.168.10.108/24" in out


def _cfg(ctx, node):
    return render_bird_cfg(bird_node(node_views(ctx.ds, [node], ctx.topology)[node]))


def test_route_reflector_config_as_calicos_templates_render_it(big):
    assert "protocol bgp Mesh_192_168_10_10 from bgp_template" in _cfg(big, "k8s-w8")
    assert cctl(big, 'patch node k8s-m -p {"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}')[0] == 0
    assert kctl(big, "label node k8s-m route-reflector=true")[0] == 0
    rr = _cfg(big, "k8s-m")
    assert ("# This node (k8s-m) is configured as a route reflector with cluster ID 244.0.0.1;\n"
            "# ignore node-to-node mesh setting.") in rr and "Mesh_" not in rr
    client = _cfg(big, "k8s-w8")   # mesh still on: the reflector is skipped, the others meshed
    assert "# Skipping 192.168.10.10 (k8s-m) as it is a route reflector with cluster ID 244.0.0.1" in client
    assert "Mesh_192_168_10_10 " not in client and "protocol bgp Mesh_192_168_20_107 " in client

    assert cctl(big, "apply -f -", RR_PEER)[0] == 0
    assert cctl(big, "apply -f -", MESH_OFF)[0] == 0
    client = _cfg(big, "k8s-w8")
    assert "# Node-to-node mesh disabled" in client and client.count("protocol bgp ") == 1
    block = client.split("protocol bgp Node_192_168_10_10 from bgp_template {")[1].split("\n}")[0]
    assert "neighbor 192.168.10.10 as 64512;" in block and "rr client" not in block and "passive" not in block
    rr = _cfg(big, "k8s-m")
    assert rr.count("protocol bgp Node_") == 9      # the reverse peerings: one per client
    w3 = rr.split("protocol bgp Node_192_168_20_103 from bgp_template {")[1].split("\n}")[0]
    # "192.168.20.103" sorts after "192.168.10.10": the client connects, the reflector waits
    assert "rr client;\n  rr cluster id 244.0.0.1;" in w3 and "passive on; # Peering is unidirectional" in w3
    assert "calico_export_to_bgp_peers(true);" in w3


def test_reflectors_of_one_cluster_are_not_each_others_clients(big):
    for n in ("k8s-m", "k8s-w1"):
        cctl(big, f'patch node {n} -p {{"spec":{{"bgp":{{"routeReflectorClusterID":"244.0.0.1"}}}}}}')
        kctl(big, f"label node {n} route-reflector=true")
    cctl(big, "apply -f -", RR_PEER)
    rr = _cfg(big, "k8s-m")
    to_w1 = rr.split("protocol bgp Node_192_168_10_101 from bgp_template {")[1].split("\n}")[0]
    assert "rr client" not in to_w1
    to_w2 = rr.split("protocol bgp Node_192_168_10_102 from bgp_template {")[1].split("\n}")[0]
    assert "rr cluster id 244.0.0.1;" in to_w2
    assert _cfg(big, "k8s-w2").count("protocol bgp Node_") == 2   # both reflectors


def test_service_cluster_ips_make_every_node_advertise_the_service_cidr(big):
    from kanslab.emulator.bird import render_bird_aggr, render_bird_ipam

    conf = {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
            "spec": {"serviceClusterIPs": [{"cidr": "10.200.1.0/24"}]}}
    import yaml

    assert cctl(big, "apply -f -", yaml.safe_dump(conf))[0] == 0
    for node in ("k8s-m", "k8s-w3"):
        bn = bird_node(node_views(big.ds, [node], big.topology)[node])
        aggr, ipam_cfg = render_bird_aggr(bn), render_bird_ipam(bn)
        assert "  # Static routes.\n  route 10.200.1.0/24 blackhole;" in aggr
        export = ipam_cfg.split("function calico_export_to_bgp_peers")[1].split("\n}")[0]
        assert export.index("calico_aggr();") < export.index("if ( net ~ 10.200.1.0/24 ) then { accept; }")
