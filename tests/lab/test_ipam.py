"""Static pod IPs and Calico IPAM in the running lab (chapter 04): pinned IP and MAC as the pod sees
them, borrowed /32 routes on every node, what IPAM refuses, strictAffinity and IPReservation."""

from __future__ import annotations

import ipaddress
import json

import pytest

from kanslab import CommandError, LabError, parse, wait_for

pytestmark = pytest.mark.lab

NODES = ("k8s-m", "k8s-w1", "k8s-w2", "k8s-w0")
TEST_PODS = ["pinned", "borrower", "client", "first", "second", "early", "late", "own", "auto0", "auto1", "auto2",
             "pin", "gone"]


def pod(name, node, ip=None, mac=None) -> dict:
    ann = {}
    if ip:
        ann["cni.projectcalico.org/ipAddrs"] = json.dumps([ip])
    if mac:
        ann["cni.projectcalico.org/hwAddr"] = mac
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"test": "ipam"}, "annotations": ann},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "traefik/whoami"}]}}


def routed_anywhere(lab, ip) -> bool:
    return any(ip in set(parse.ip_route(lab.sh(n, "ip route")).dst) for n in NODES)


@pytest.fixture()
def cleanup(lab):
    """Whatever a test leaves (pods labelled test=ipam, the reservation, strictAffinity) is undone;
    the borrowed /32s listed in the yielded list as (ip, borrowing node) must then be gone everywhere."""
    borrowed: list[tuple[str, str]] = []
    yield borrowed
    lab.kubectl("delete pod -l test=ipam --ignore-not-found")
    lab.calicoctl("delete ipreservation test-ipam --skip-not-exists")
    lab.calicoctl("ipam configure --strictaffinity=false")
    assert wait_for(lambda: not lab.pods().name.isin(TEST_PODS).any())
    for ip, _node in borrowed:
        assert wait_for(lambda ip=ip: not routed_anywhere(lab, ip), timeout=10), f"{ip} still routed"


@pytest.fixture(scope="module")
def block(lab) -> dict[str, ipaddress.IPv4Network]:
    """node -> its block: the owner holds the block's blackhole route."""
    out = {}
    for node in NODES:
        for dst in parse.ip_route(lab.sh(node, "ip route show type blackhole")).dst:
            out[node] = ipaddress.ip_network(dst)
    assert len(out) == 4
    return out


def pod_ips(lab) -> dict[str, str]:
    return {r.name: r.ip for r in lab.pods().itertuples() if r.phase == "Running"}


def refused(lab, manifest) -> str:
    """Apply a pod the CNI must refuse: as on a cluster it is created and waits in ContainerCreating, and
    wait_ready names the FailedCreatePodSandBox event; then the pod is deleted again."""
    name = manifest["metadata"]["name"]
    lab.apply(manifest)
    try:
        with pytest.raises(LabError) as e:
            lab.wait_ready(name, timeout=60)
        assert lab.pods().set_index("name").loc[name, "phase"] == "Pending"
    finally:
        lab.delete(manifest)
    assert "FailedCreatePodSandBox" in str(e.value)
    return str(e.value)


def test_pinned_ip_and_mac_inside_the_pod_survive_recreation(lab, block, cleanup):
    ip, mac = str(block["k8s-w1"][120]), "1c:0c:0a:c0:ff:ee"
    manifest = pod("pinned", "k8s-w1", ip=ip, mac=mac)
    for _ in range(2):
        lab.apply(manifest)
        link = json.loads(lab.exec("pinned", "ip -j link show eth0"))[0]
        addrs = json.loads(lab.exec("pinned", "ip -j -4 addr show eth0"))[0]["addr_info"]
        assert (link["address"], [a["local"] for a in addrs]) == (mac, [ip])
        wep = json.loads(lab.calicoctl("get wep -o json"))["items"]
        # Calico's WEP (built from the pod by the KDD converter) carries no MAC; the pod's eth0 does
        assert [w["spec"].get("mac") for w in wep if w["spec"]["pod"] == "pinned"] == [None]
        lab.delete(manifest)
        assert wait_for(lambda: "pinned" not in set(lab.pods().name))


def test_borrowed_ip_is_a_32_on_every_other_node_and_answers(lab, block, cleanup):
    ip = str(block["k8s-w1"][210])
    w2 = next(n.ip for n in lab.topology.nodes if n.name == "k8s-w2")
    cleanup.append((ip, "k8s-w2"))
    lab.apply([pod("borrower", "k8s-w2", ip=ip), pod("client", "k8s-w0")])
    borrowed = parse.calico_ipam_borrowed(lab.calicoctl("ipam show --show-borrowed"))
    assert borrowed[["ip", "borrowing_node", "block_owner", "allocated_to"]].values.tolist() == \
        [[ip, "k8s-w2", "k8s-w1", "default/borrower"]]

    def host_routes():
        return {n: parse.ip_route(lab.sh(n, "ip route")).set_index("dst") for n in NODES}

    assert wait_for(lambda: all(ip in r.index for r in host_routes().values()))
    routes = host_routes()
    for node in ("k8s-m", "k8s-w1", "k8s-w0"):
        assert (routes[node].gateway[ip], routes[node].dev[ip]) == (w2, "tunl0"), node
    assert routes["k8s-w2"].dev[ip].startswith("cali")
    assert routes["k8s-w1"].type[str(block["k8s-w1"])] == "blackhole"  # the owner keeps its /24 blackhole
    reach = lab.reachability(pods=["client", "borrower"])
    assert reach.values.all(), reach
    lab.delete(pod("borrower", "k8s-w2"))
    assert parse.calico_ipam_borrowed(lab.calicoctl("ipam show --show-borrowed")).empty


def test_deleting_a_borrowing_pod_withdraws_its_32(lab, block, cleanup):
    ip = str(block["k8s-w1"][230])
    cleanup.append((ip, "k8s-w2"))
    lab.apply(pod("gone", "k8s-w2", ip=ip))
    assert wait_for(lambda: ip in set(parse.ip_route(lab.sh("k8s-m", "ip route")).dst))
    lab.delete(pod("gone", "k8s-w2"))
    # real calico-node notices within its 2 s kernel scan at most
    assert wait_for(lambda: not routed_anywhere(lab, ip), timeout=10)


def test_second_pod_on_an_assigned_ip_does_not_start(lab, block, cleanup):
    ip = str(block["k8s-w2"][130])
    lab.apply(pod("first", "k8s-w2", ip=ip))
    before = lab.calicoctl("ipam show --show-blocks")
    err = refused(lab, pod("second", "k8s-w0", ip=ip))
    assert "Address already assigned in block" in err
    assert pod_ips(lab)["first"] == ip
    assert lab.calicoctl("ipam show --show-blocks") == before


def test_strict_affinity_refuses_borrowing_and_keeps_what_was_borrowed(lab, block, cleanup):
    early, late = str(block["k8s-w1"][220]), str(block["k8s-w1"][221])
    cleanup.extend([(early, "k8s-w2"), (late, "k8s-w2")])
    lab.apply(pod("early", "k8s-w2", ip=early))
    lab.calicoctl("ipam configure --strictaffinity=true")
    assert "| StrictAffinity     | true  |" in lab.calicoctl("ipam show --show-configuration")
    err = refused(lab, pod("late", "k8s-w2", ip=late))
    assert "Block host affinity does not match" in err
    assert pod_ips(lab)["early"] == early
    # its own block is still fine
    lab.apply(pod("own", "k8s-w2", ip=str(block["k8s-w2"][221])))
    lab.calicoctl("ipam configure --strictaffinity=false")
    lab.apply(pod("late", "k8s-w2", ip=late))
    assert pod_ips(lab)["late"] == late


def test_ipreservation_keeps_auto_assignment_out_but_not_pins(lab, block, cleanup):
    reserved = next(block["k8s-w0"].subnets(new_prefix=25))  # the lower half of k8s-w0's block
    lab.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPReservation",
               "metadata": {"name": "test-ipam"}, "spec": {"reservedCIDRs": [str(reserved)]}})
    listing = lab.calicoctl("get ipreservation -o wide")
    assert listing.split("\n")[1].split() == ["test-ipam", str(reserved)]
    lab.apply([pod(f"auto{i}", "k8s-w0") for i in range(3)] + [pod("pin", "k8s-w0", ip=str(reserved[77]))])
    ips = pod_ips(lab)
    for i in range(3):
        addr = ipaddress.ip_address(ips[f"auto{i}"])
        assert addr in block["k8s-w0"] and addr not in reserved, (i, addr)
    assert ips["pin"] == str(reserved[77])
    lab.calicoctl("delete ipreservation test-ipam")
    assert json.loads(lab.calicoctl("get ipreservation -o json"))["items"] == []


def test_bad_ipreservation_changes_nothing(lab, cleanup):
    before = lab.calicoctl("get ipreservation -o wide")
    with pytest.raises(CommandError) as e:
        lab.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPReservation",
                   "metadata": {"name": "test-ipam"}, "spec": {"reservedCIDRs": ["172.16.0.0/33"]}})
    assert "failed to validate Field: ReservedCIDRs because of Tag: cidrs" in e.value.stderr
    assert lab.calicoctl("get ipreservation -o wide") == before
