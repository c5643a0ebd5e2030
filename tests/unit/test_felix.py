"""Felix's decisions as typed records, and the agent's reading of the kernel's `ip -j route` into them."""

import json

import pytest

from kanslab.backends.local.node_kernel import kernel_routes, owned_routes, route_text
from kanslab.emulator import felix, ipam
from kanslab.emulator import resources as res
from kanslab.emulator.datastore import Datastore
from kanslab.topology import load_topology


@pytest.fixture()
def lab(tmp_path):
    topo = load_topology("kans3")
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    return ds, topo


def _mode(ds, topo, ipip, vxlan):
    res.patch(ds, topo, "IPPool", "default-ipv4-ippool", {"spec": {"ipipMode": ipip, "vxlanMode": vxlan}})


def _blocks(ds):
    return {ipam.block_owner(b): b["spec"]["cidr"] for b in ds.list("IPAMBlock")}


def _learned(view, blocks, gateway="192.168.10.254"):
    """Table 200 as BIRD fills it on k8s-w1: each other node's block, via the node or the router."""
    rows = [{"dst": "default", "gateway": gateway, "dev": "enp0s8", "flags": []}]
    for name, block in blocks.items():
        if name == view.name:
            continue
        node = next(n for n in view.nodes if n.name == name)
        via = node.ip if node.ip.startswith("192.168.10.") else gateway
        rows.append({"dst": block, "gateway": via, "dev": "enp0s8", "protocol": "bird", "flags": []})
    return kernel_routes(rows)


def test_ipip_modes_route_through_tunl0_as_bird_would(lab):
    ds, topo = lab
    blocks = _blocks(ds)
    view = felix.node_view(ds, "k8s-w1", topo)
    always = {r.dst: r for r in felix.bgp_pool_routes(view, _learned(view, blocks))}
    w0 = always[blocks["k8s-w0"]]
    assert (w0.dev, w0.via, w0.proto, w0.onlink) == ("tunl0", "192.168.20.100", "bird", True)
    assert route_text(w0) == f"{blocks['k8s-w0']} via 192.168.20.100 dev tunl0 proto bird onlink"
    _mode(ds, topo, "CrossSubnet", "Never")
    view = felix.node_view(ds, "k8s-w1", topo)
    cross = {r.dst: r for r in felix.bgp_pool_routes(view, _learned(view, blocks))}
    # same subnet: no tunnel, the route as BIRD resolved it; across the router: tunl0 to the node itself
    w2 = cross[blocks["k8s-w2"]]
    assert (w2.dev, w2.via, w2.onlink) == ("enp0s8", "192.168.10.102", False)
    assert cross[blocks["k8s-w0"]] == w0
    _mode(ds, topo, "Never", "Never")
    view = felix.node_view(ds, "k8s-w1", topo)
    direct = {r.dst: r for r in felix.bgp_pool_routes(view, _learned(view, blocks))}
    assert direct[blocks["k8s-w0"]].via == "192.168.10.254" and direct[blocks["k8s-w0"]].dev == "enp0s8"


def test_vxlan_routes_neighbours_and_fdb(lab):
    ds, topo = lab
    _mode(ds, topo, "Never", "CrossSubnet")
    blocks = _blocks(ds)
    view = felix.node_view(ds, "k8s-w1", topo)
    # BIRD's routes for a VXLAN pool are Felix's business: none from table 200
    assert felix.bgp_pool_routes(view, _learned(view, blocks)) == []
    routes, neigh, fdb = felix.vxlan_routes(view)
    by_dst = {r.dst: r for r in routes}
    assert by_dst[blocks["k8s-w1"]] == felix.Route(blocks["k8s-w1"], proto="80", type="blackhole")
    assert route_text(by_dst[blocks["k8s-w1"]]) == f"blackhole {blocks['k8s-w1']} proto 80"
    assert (by_dst[blocks["k8s-w2"]].dev, by_dst[blocks["k8s-w2"]].via) == ("enp0s8", "192.168.10.102")
    w0 = next(n for n in view.nodes if n.name == "k8s-w0")
    assert (by_dst[blocks["k8s-w0"]].dev, by_dst[blocks["k8s-w0"]].via) == ("vxlan.calico", w0.vxlan_tunnel_addr)
    assert by_dst[blocks["k8s-w0"]].proto == "boot" and by_dst[blocks["k8s-w0"]].onlink  # no proto in `ip route`
    assert felix.Neighbour(w0.vxlan_tunnel_addr, w0.vxlan_tunnel_mac) in neigh
    assert felix.FdbEntry(w0.vxlan_tunnel_mac, "192.168.20.100") in fdb
    dev = felix.vxlan_device(view, topo.cluster.vxlan.vni, topo.cluster.vxlan.port)
    assert (dev.vni, dev.port, dev.parent, dev.local, dev.mtu) == (4096, 4789, "enp0s8", "192.168.10.101", 1450)
    _mode(ds, topo, "Always", "Never")
    assert felix.vxlan_device(felix.node_view(ds, "k8s-w1", topo), 4096, 4789) is None


# `ip -j route show table main` on k8s-w1 in VXLAN mode (iproute2 6.1): Felix's blackhole has no
# dev, BIRD's own blackhole says proto bird, host routes have no prefix length
KERNEL_MAIN = json.loads("""[
{"dst":"default","gateway":"192.168.10.254","dev":"enp0s8","flags":[]},
{"type":"blackhole","dst":"172.16.148.0/24","protocol":"80","flags":[]},
{"type":"blackhole","dst":"172.16.148.0/24","protocol":"bird","metric":32,"flags":[]},
{"dst":"172.16.148.1","dev":"calice0906292e2","scope":"link","flags":[]},
{"dst":"172.16.163.0/24","gateway":"192.168.10.102","dev":"enp0s8","protocol":"80","flags":["onlink"]},
{"dst":"172.16.60.0/24","gateway":"172.16.60.2","dev":"vxlan.calico","protocol":"80","flags":["onlink"]},
{"dst":"172.16.56.0/24","gateway":"192.168.10.10","dev":"enp0s8","protocol":"12","flags":[]},
{"dst":"192.168.10.0/24","dev":"enp0s8","protocol":"kernel","scope":"link","prefsrc":"192.168.10.101","flags":[]}
]""")


def test_agent_reads_the_kernel_into_routes_and_owns_only_felix_and_bird_pool_routes(lab):
    ds, topo = lab
    view = felix.node_view(ds, "k8s-w1", topo)
    routes = kernel_routes(KERNEL_MAIN)
    # a /32 gets its length; no protocol in `ip -j route` is the kernel's boot (DeviceRouteProtocol 3)
    assert felix.Route("172.16.148.1/32", "calice0906292e2", proto="boot") in routes
    owned = owned_routes(routes, view)
    assert felix.Route("172.16.148.0/24", proto="80", type="blackhole") in owned
    assert felix.Route("172.16.163.0/24", "enp0s8", "192.168.10.102", "80", onlink=True) in owned
    # proto 12 is BIRD's number: read as "bird", so it equals what Felix wants and is not re-added
    assert felix.Route("172.16.56.0/24", "enp0s8", "192.168.10.10", "bird") in owned
    # BIRD's blackhole, the pod's /32 (no proto) and the NIC's subnet are not the lab Felix's
    assert len(owned) == 4


def test_block_owners_pick_the_longest_block_and_the_holder_of_a_borrowed_address():
    net = __import__("ipaddress").ip_network("192.168.10.0/24")
    a = felix.NodeInfo("a", "192.168.10.1", net, 64512, blocks=["172.16.0.0/24"])
    b = felix.NodeInfo("b", "192.168.10.2", net, 64512, blocks=["172.16.0.0/26", "172.16.1.0/24"])
    c = felix.NodeInfo("c", "192.168.10.3", net, 64512)
    view = felix.NodeView("me", "192.168.10.9", net, 64512, nodes=[a, b, c],
                          remote_borrowed={"172.16.1.7/32": "c"})
    owners = felix.BlockOwners(view)
    assert owners.owner_of("172.16.0.0/24") is a and owners.owner_of("172.16.0.200/32") is a
    assert owners.owner_of("172.16.0.0/26") is b and owners.owner_of("172.16.0.5/32") is b  # the longer block
    assert owners.owner_of("172.16.1.7/32") is c and owners.owner_of("172.16.1.8/32") is b  # borrowed: its holder
    assert owners.owner_of("172.16.9.0/24") is None and owners.owner_of("172.16.0.0/16") is None
