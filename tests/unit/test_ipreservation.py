"""IPReservation: calicoctl get/apply/create/delete and what auto-assignment does with reserved IPs."""

import ipaddress

import pytest

from kanslab.emulator import ipam
from kanslab.emulator import resources as res
from kanslab.emulator.cli import CliContext
from kanslab.emulator.datastore import Datastore
from kanslab.parse import calico_ipam_blocks
from kanslab.topology import cluster_config, load_topology

from .fixtures import assert_sandbox_refused, cctl, cli_lab

IP_ADDRS = "cni.projectcalico.org/ipAddrs"


@pytest.fixture()
def lab(tmp_path):
    return cli_lab(tmp_path)


def reservation(name, *cidrs):
    items = "".join(f"  - {c}\n" for c in cidrs)
    return (f"apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata:\n  name: {name}\n"
            f"spec:\n  reservedCIDRs:\n{items}")


def pod(name, node="k8s-w1", **annotations):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "traefik/whoami"}]}}


def inside(ip, cidr):
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def block_of(ctx, node):
    return next(b["spec"]["cidr"] for b in ctx.ds.list("IPAMBlock") if ipam.block_owner(b) == node)


def prefix_of(ctx, node):
    """172.16.158 for k8s-w1's 172.16.158.0/24."""
    return block_of(ctx, node).rsplit(".", 1)[0]


def pod_ip(ctx, name):
    return ctx.ds.get("Pod", name, "default")["status"]["podIP"]


# ---------------------------------------------------------------- calicoctl

def test_apply_get_and_delete_as_calicoctl_prints_them(lab):
    rc, out, err = cctl(lab, "apply -f -", reservation("fixed-ips", "172.16.158.0/28", "172.16.158.100"))
    assert (rc, out, err) == (0, "Successfully applied 1 'IPReservation' resource(s)\n", "")
    assert cctl(lab, "get ipreservation")[1] == "NAME        \nfixed-ips   \n\n"
    assert cctl(lab, "get reservations -o wide")[1] == (
        "NAME        CIDRS                            \nfixed-ips   172.16.158.0/28,172.16.158.100   \n\n")
    y = cctl(lab, "get ipreservation fixed-ips -o yaml")[1]
    assert y.startswith("apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata:\n")
    assert "spec:\n  reservedCIDRs:\n  - 172.16.158.0/28\n  - 172.16.158.100\n" in y
    rc, out, _ = cctl(lab, "apply -f -", reservation("fixed-ips", "172.16.158.0/28", "172.16.158.100"))
    assert rc == 0
    rc, _, err = cctl(lab, "create -f -", reservation("fixed-ips", "172.16.158.5"))
    assert rc == 1 and "resource already exists: IPReservation(fixed-ips)" in err
    assert (rc := cctl(lab, "delete ipreservation fixed-ips"))[0] == 0 and "Successfully deleted 1" in rc[1]
    rc, _, err = cctl(lab, "get ipreservation fixed-ips")
    assert rc == 1 and err.startswith("resource does not exist: IPReservation(fixed-ips) with error: "
                                      'ipreservations.crd.projectcalico.org "fixed-ips" not found')


def test_wide_listing_truncates_long_cidr_lists_as_calicoctl_does(lab):
    cidrs = [f"172.16.200.{i}" for i in range(10)]
    cctl(lab, "apply -f -", reservation("many", *cidrs))
    row = cctl(lab, "get ipreservation -o wide")[1].splitlines()[1]
    cell = row.split()[1]
    assert len(cell) == 80 and cell.endswith("...") and cell.startswith(",".join(cidrs[:5]))


@pytest.mark.parametrize("manifest,needle", [
    (reservation("bad", "172.16.1.0/24", "172.16.1.300"),
     "error with field ReservedCIDRs = '[172.16.1.0/24 172.16.1.300]' "
     "(Reason: failed to validate Field: ReservedCIDRs because of Tag: cidrs )"),
    (reservation("bad", "not-an-ip"), "because of Tag: cidrs"),
    (reservation("Bad_Name", "172.16.1.5"), "error with field Metadata.Name = 'Bad_Name'"),
    (reservation("bad", "172.16.1.5").replace("reservedCIDRs", "reservedIPs"),
     'json: unknown field "reservedIPs"'),
    ("apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata: {name: bad}\n"
     "spec: {reservedCIDRs: 172.16.1.5}\n", "cannot unmarshal string into Go struct field"),
])
def test_bad_reservations_are_refused_and_change_nothing(lab, manifest, needle):
    before = lab.ds.revision()
    rc, out, err = cctl(lab, "apply -f -", manifest)
    assert rc == 1 and out == "" and needle in err
    assert lab.ds.revision() == before and lab.ds.list("IPReservation") == []


def test_a_bad_reservation_in_a_manifest_rolls_back_the_good_one(lab):
    both = reservation("good", "172.16.1.5") + "---\n" + reservation("bad", "172.16.1.999")
    rc, _, err = cctl(lab, "apply -f -", both)
    assert rc == 1 and "ReservedCIDRs" in err
    assert lab.ds.list("IPReservation") == []


def test_kubectl_does_not_take_calico_kinds(lab):
    from kanslab.emulator.cli import kubectl
    lab.stdin = reservation("r", "172.16.1.5")
    rc, _, err = kubectl(["apply", "-f", "-"], lab)
    assert rc == 1 and 'no matches for kind "IPReservation"' in err


# ---------------------------------------------------------------- IPAM

def test_auto_assignment_skips_reserved_ips(lab):
    pre = prefix_of(lab, "k8s-w1")
    cctl(lab, "apply -f -", reservation("r", f"{pre}.0/29", f"{pre}.9"))
    res.apply(lab.ds, lab.topology, [pod(f"p{i}") for i in range(3)])
    # .0 is k8s-w1's tunnel address (assigned before the reservation: it stays); .1-.7 and .9 are reserved
    assert [pod_ip(lab, f"p{i}") for i in range(3)] == [f"{pre}.8", f"{pre}.10", f"{pre}.11"]
    assert lab.ds.get("Node", "k8s-w1")["metadata"]["annotations"][ipam.ANN_IPIP_ADDR] == f"{pre}.0"


def test_ip_addrs_annotation_may_take_a_reserved_ip(lab):
    pre = prefix_of(lab, "k8s-w1")
    cctl(lab, "apply -f -", reservation("r", f"{pre}.100"))
    res.apply(lab.ds, lab.topology, pod("pinned", **{IP_ADDRS: f'["{pre}.100"]'}))
    assert pod_ip(lab, "pinned") == f"{pre}.100"
    # the reservation does not protect it from a second pin: IPAM's allocation record does
    res.apply(lab.ds, lab.topology, pod("again", "k8s-w2", **{IP_ADDRS: f'["{pre}.100"]'}))
    assert_sandbox_refused(lab.ds, "again", "Address already assigned in block")


def test_reserving_an_ip_in_use_does_not_release_it(lab):
    res.apply(lab.ds, lab.topology, pod("a"))
    ip = pod_ip(lab, "a")
    cctl(lab, "apply -f -", reservation("r", ip))
    assert ipam.find_allocation(lab.ds, ip)[2]["attrs"]["pod"] == "a"
    res.delete(lab.ds, lab.topology, pod("a"))
    res.apply(lab.ds, lab.topology, [pod(f"b{i}") for i in range(3)])
    assert ip not in {pod_ip(lab, f"b{i}") for i in range(3)}


def test_a_wholly_reserved_block_is_neither_used_nor_claimed(lab):
    w1 = block_of(lab, "k8s-w1")
    # reserve k8s-w1's whole block, in two halves (together they cover it), and the next free one
    half = w1.replace(".0/24", ".0/25"), w1.replace(".0/24", ".128/25")
    cctl(lab, "apply -f -", reservation("r", *half))
    res.apply(lab.ds, lab.topology, pod("a"))
    ip = pod_ip(lab, "a")
    assert not inside(ip, w1)
    new_block = ipam.block_of(ip, 24)
    assert next(b for b in lab.ds.list("IPAMBlock") if b["spec"]["cidr"] == new_block)["spec"]["affinity"] \
        == "host:k8s-w1"
    blocks = calico_ipam_blocks(cctl(lab, "ipam show --show-blocks")[1])
    assert set(blocks[blocks.grouping == "Block"].cidr) >= {w1, new_block}


def test_deleting_the_reservation_makes_its_ips_assignable_again(lab):
    pre = prefix_of(lab, "k8s-w0")
    cctl(lab, "apply -f -", reservation("r", f"{pre}.1"))
    res.apply(lab.ds, lab.topology, pod("a", "k8s-w0"))
    assert pod_ip(lab, "a") == f"{pre}.2"
    cctl(lab, "delete ipreservation r")
    res.apply(lab.ds, lab.topology, pod("b", "k8s-w0"))
    assert pod_ip(lab, "b") == f"{pre}.1"


def test_reservations_do_not_make_borrowing_skip_the_rest_of_a_block(tmp_path):
    # /29 blocks in a /28 pool, two nodes: k8s-m's block holds its tunnel address, coredns x2 and
    # calico-kube-controllers (.0-.3); k8s-w1 fills its block, then borrows from k8s-m's, skipping
    # the reserved address there
    topo = load_topology("kans3")
    topo.cluster = cluster_config({"pod_cidr": "10.9.0.0/28", "block_size": 29})
    topo.nodes = topo.nodes[:2]
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    ctx = CliContext(ds, topo, cwd=tmp_path)
    m_block = block_of(ctx, "k8s-m")
    base = m_block.split("/")[0].rsplit(".", 1)
    reserved = f"{base[0]}.{int(base[1]) + 5}"
    cctl(ctx, "apply -f -", reservation("r", reserved))
    res.apply(ds, topo, [pod(f"p{i}") for i in range(9)])
    borrowed = [pod_ip(ctx, f"p{i}") for i in range(9) if inside(pod_ip(ctx, f"p{i}"), m_block)]
    assert borrowed == [f"{base[0]}.{int(base[1]) + 4}", f"{base[0]}.{int(base[1]) + 6}"]


def test_a_new_tunnel_address_skips_reserved_ips_too(lab):
    pre = prefix_of(lab, "k8s-w1")
    cctl(lab, "apply -f -", reservation("r", f"{pre}.1", f"{pre}.2"))
    rc, _, err = cctl(lab, "patch ippool default-ipv4-ippool -p "
                           '{"spec":{"ipipMode":"Never","vxlanMode":"Always"}}')
    assert rc == 0, err
    # .0 (the IPIP address) is released and not reused at once; .1 and .2 are reserved
    assert lab.ds.get("Node", "k8s-w1")["metadata"]["annotations"][ipam.ANN_VXLAN_ADDR] == f"{pre}.3"
