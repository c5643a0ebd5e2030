"""kube-system as kubeadm 1.30 + Calico v3.28 leave it: every pod Running, hostNetwork where real."""

import dataclasses
import ipaddress
import json

from kanslab.emulator import ipam
from kanslab.emulator import resources as res
from kanslab.emulator.datastore import Datastore
from kanslab.emulator.kube_system import NAME_ALPHABET
from kanslab.topology import load_topology

from .fixtures import cctl, cli_lab, kctl

NODE_IPS = {"k8s-m": "192.168.10.10", "k8s-w1": "192.168.10.101", "k8s-w2": "192.168.10.102",
            "k8s-w0": "192.168.20.100"}


def _pods(lab):
    return json.loads(kctl(lab, "get pods -A -o json")[1])["items"]


def _by_prefix(pods, prefix):
    return [p for p in pods if p["metadata"]["name"].startswith(prefix)]


def test_every_kube_system_pod_runs_and_host_network_ones_have_the_node_ip(tmp_path):
    lab = cli_lab(tmp_path)
    pods = _pods(lab)
    assert {p["metadata"]["namespace"] for p in pods} == {"kube-system"}
    assert all(p["status"]["phase"] == "Running" for p in pods)
    for app in ("calico-node-", "kube-proxy-"):
        daemons = _by_prefix(pods, app)
        assert sorted(p["spec"]["nodeName"] for p in daemons) == sorted(NODE_IPS)
        for p in daemons:
            suffix = p["metadata"]["name"][len(app):]
            assert len(suffix) == 5 and set(suffix) <= set(NAME_ALPHABET)
            assert p["spec"]["hostNetwork"] is True and p["status"]["podIP"] == NODE_IPS[p["spec"]["nodeName"]]
    static = {p["metadata"]["name"] for p in pods if p["spec"].get("hostNetwork") and p["metadata"]["name"].endswith("-k8s-m")}
    assert static == {"etcd-k8s-m", "kube-apiserver-k8s-m", "kube-controller-manager-k8s-m", "kube-scheduler-k8s-m"}


def test_coredns_and_kube_controllers_take_pool_ips_on_k8s_m_so_its_block_has_4_in_use(tmp_path):
    lab = cli_lab(tmp_path)
    pods = _pods(lab)
    workloads = _by_prefix(pods, "coredns-55cb58b774-") + _by_prefix(pods, "calico-kube-controllers-77d59654f4-")
    assert len(workloads) == 3
    assert {p["spec"]["nodeName"] for p in workloads} == {"k8s-m"}
    assert sorted(p["status"]["podIP"] for p in workloads) == ["172.16.116.1", "172.16.116.2", "172.16.116.3"]
    assert all("hostNetwork" not in p["spec"] for p in workloads)
    out = cctl(lab, "ipam show --show-blocks")[1]
    assert "| Block    | 172.16.116.0/24 |       256 | 4 (2%)     | 252 (98%)    |" in out
    weps = cctl(lab, "get wep -A")[1]
    assert weps.count("kube-system") == 3 and "calico-node" not in weps   # hostNetwork pods have no WEP


def test_kube_system_is_made_once_and_the_same_in_every_lab(tmp_path):
    topo = load_topology("kans3")
    names = []
    for i in range(2):
        ds = Datastore(tmp_path / f"ds{i}.sqlite")
        res.bootstrap(ds, topo)
        assert res.bootstrap(ds, topo) == []    # a second lab.up() adds nothing
        names.append(sorted(p["metadata"]["name"] for p in ds.list("Pod", "kube-system")))
    assert names[0] == names[1] and len(names[0]) == 15


def test_a_pool_too_small_leaves_them_waiting_instead_of_failing_bootstrap(tmp_path):
    topo = load_topology("kans3")
    topo.cluster = dataclasses.replace(topo.cluster, pod_cidr=ipaddress.IPv4Network("10.9.0.0/31"), block_size=31)  # tunnel + 1 pod
    topo.nodes = topo.nodes[:1]
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    phases = sorted(p["status"]["phase"] for p in ds.list("Pod", "kube-system") if "hostNetwork" not in p["spec"])
    assert phases == ["Pending", "Pending", "Running"]
    assert ipam.node_blocks(ds, "k8s-m")
