"""apply/delete/patch/bootstrap/node_view of the emulated control plane, and the selector language."""

import hashlib

import pytest

from kanslab.emulator import ipam
from kanslab.emulator import resources as res
from kanslab.emulator.datastore import Datastore
from kanslab.errors import InvalidInput
from kanslab.topology import load_topology

from .fixtures import assert_sandbox_refused

PODS = """
apiVersion: v1
kind: Pod
metadata:
  name: pod1
  labels: {app: webpod}
spec:
  nodeName: k8s-w1
  containers:
  - name: container
    image: traefik/whoami
    ports:
    - {name: web, containerPort: 80}
    - {containerPort: 8080, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: pod2}
spec:
  nodeName: k8s-w0
  containers: [{name: pod2, image: nicolaka/netshoot}]
"""


@pytest.fixture()
def lab(tmp_path):
    topo = load_topology("kans3")
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    return ds, topo


def _pod(name, **spec):
    spec.setdefault("containers", [{"name": name, "image": "nicolaka/netshoot"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# ---------------------------------------------------------------- manifests

def test_load_manifest_accepts_documents_lists_and_paths(tmp_path):
    assert [o["metadata"]["name"] for o in res.load_manifest(PODS)] == ["pod1", "pod2"]
    as_list = {"apiVersion": "v1", "kind": "List", "items": res.load_manifest(PODS)}
    assert len(res.load_manifest(as_list)) == 2
    assert len(res.load_manifest(res.load_manifest(PODS))) == 2
    path = tmp_path / "pods.yaml"
    path.write_text(PODS)
    assert len(res.load_manifest(str(path))) == 2
    assert len(res.load_manifest(path)) == 2


def test_malformed_yaml_names_the_line():
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: oops\n"
    with pytest.raises(InvalidInput, match="line 5") as e:
        res.load_manifest(text)
    assert e.value.line == 5


def test_document_without_kind_is_refused():
    with pytest.raises(InvalidInput, match=r"kind not set"):
        res.load_manifest({"apiVersion": "v1", "metadata": {"name": "x"}})


# ---------------------------------------------------------------- bootstrap

def test_bootstrap_builds_the_kans_cluster_once(lab):
    ds, topo = lab
    assert res.bootstrap(ds, topo) == []  # idempotent
    ns = ds.get("Namespace", "kube-system")
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "kube-system"}
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in ds.list("Node")}
    assert cidrs == {"k8s-m": "172.16.0.0/24", "k8s-w1": "172.16.1.0/24", "k8s-w2": "172.16.2.0/24",
                     "k8s-w0": "172.16.3.0/24"}
    m = ds.get("Node", "k8s-m")
    assert m["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert m["metadata"]["labels"]["kubernetes.io/hostname"] == "k8s-m"
    assert m["metadata"]["annotations"]["projectcalico.org/IPv4Address"] == "192.168.10.10/24"
    assert m["status"]["addresses"] == [{"address": "192.168.10.10", "type": "InternalIP"},
                                        {"address": "k8s-m", "type": "Hostname"}]
    pool = ds.get("IPPool", "default-ipv4-ippool")["spec"]
    assert pool == {"allowedUses": ["Workload", "Tunnel"], "blockSize": 24, "cidr": "172.16.0.0/16",
                    "ipipMode": "Always", "natOutgoing": True, "nodeSelector": "all()", "vxlanMode": "Never"}
    assert ds.get("FelixConfiguration", "default") is not None
    assert ds.get("IPAMConfig", "default")["spec"] == {"strictAffinity": False, "autoAllocateBlocks": True,
                                                       "maxBlocksPerHost": 0}


# ---------------------------------------------------------------- pods

def test_pod_creation_does_what_calicos_cni_does(lab):
    ds, topo = lab
    assert res.apply(ds, topo, PODS) == ["pod/pod1 created", "pod/pod2 created"]
    pod = ds.get("Pod", "pod1")
    ip = pod["status"]["podIP"]
    ann = pod["metadata"]["annotations"]
    assert pod["status"]["phase"] == "Running" and pod["status"]["hostIP"] == "192.168.10.101"
    assert ann["cni.projectcalico.org/podIP"] == f"{ip}/32" == ann["cni.projectcalico.org/podIPs"]
    assert len(ann["cni.projectcalico.org/containerID"]) == 64
    wep = ds.get("WorkloadEndpoint", "k8s--w1-k8s-pod1-eth0", "default")
    assert wep["spec"]["interfaceName"] == "cali" + hashlib.sha1(b"default.pod1").hexdigest()[:11] \
        == "calice0906292e2"  # the name KANS students see for default/pod1
    assert wep["spec"]["ipNetworks"] == [f"{ip}/32"]
    assert wep["spec"]["profiles"] == ["kns.default", "ksa.default.default"]
    assert wep["spec"]["ports"] == [{"name": "web", "port": 80, "protocol": "TCP", "hostPort": 0}]
    assert wep["metadata"]["labels"]["app"] == "webpod"
    assert wep["metadata"]["labels"]["projectcalico.org/namespace"] == "default"


def test_reapply_is_unchanged_labels_configure_and_spec_changes_are_forbidden(lab):
    ds, topo = lab
    res.apply(ds, topo, PODS)
    assert res.apply(ds, topo, PODS) == ["pod/pod1 unchanged", "pod/pod2 unchanged"]
    relabelled = PODS.replace("app: webpod", "app: other")
    assert res.apply(ds, topo, relabelled)[0] == "pod/pod1 configured"
    assert ds.get("WorkloadEndpoint", "k8s--w1-k8s-pod1-eth0", "default")["metadata"]["labels"]["app"] == "other"
    before = ds.revision()
    with pytest.raises(res.ApplyError, match="pod updates may not change fields other than"):
        res.apply(ds, topo, relabelled.replace("nodeName: k8s-w1", "nodeName: k8s-w2"))
    assert ds.revision() == before


def test_mac_from_hwaddr_annotation_and_seeds_mac_annotation_is_ignored(lab):
    ds, topo = lab
    with_hw = _pod("hw", nodeName="k8s-w1")
    with_hw["metadata"]["annotations"] = {"cni.projectcalico.org/hwAddr": "EE:EE:EE:00:00:01"}
    seeds = _pod("seed", nodeName="k8s-w1")
    seeds["metadata"]["annotations"] = {"cni.projectcalico.org/mac": "EE:EE:EE:00:00:02"}
    res.apply(ds, topo, [with_hw, seeds])
    view = {p["name"]: p for p in res.node_view(ds, "k8s-w1", topo)["pods"]}
    assert view["hw"]["mac"] == "ee:ee:ee:00:00:01"
    mac = view["seed"]["mac"]
    assert mac != "ee:ee:ee:00:00:02" and int(mac[:2], 16) & 0x3 == 0x2


def test_workload_endpoint_carries_the_pods_uid_and_no_mac(lab):
    """Calico's KDD converter: wep.ObjectMeta.UID = pod.UID; WorkloadEndpointSpec has no MAC from a pod."""
    ds, topo = lab
    res.apply(ds, topo, _pod("hw", nodeName="k8s-w1"))
    pod = ds.get("Pod", "hw", "default")
    wep = ds.get("WorkloadEndpoint", "k8s--w1-k8s-hw-eth0", "default")
    assert wep["metadata"]["uid"] == pod["metadata"]["uid"]
    assert wep["metadata"]["creationTimestamp"] == pod["metadata"]["creationTimestamp"]
    assert "mac" not in wep["spec"]


def test_unknown_node_is_refused_and_nothing_changes(lab):
    ds, topo = lab
    before = ds.revision()
    with pytest.raises(res.ApplyError, match='spec.nodeName: Not found: "k8s-w9"'):
        res.apply(ds, topo, [_pod("ok", nodeName="k8s-w1"), _pod("bad", nodeName="k8s-w9")])
    assert ds.revision() == before and ds.get("Pod", "ok") is None


def test_a_pod_the_cni_refuses_is_created_and_waits_with_an_event(lab):
    ds, topo = lab
    bad = _pod("pinned", nodeName="k8s-w1")
    bad["metadata"]["annotations"] = {"cni.projectcalico.org/ipAddrs": '["10.99.0.1"]'}
    res.apply(ds, topo, [_pod("first", nodeName="k8s-w1"), bad])
    assert ds.get("Pod", "first")["status"]["phase"] == "Running"
    assert_sandbox_refused(ds, "pinned", "not in a configured pool")
    assert [w["spec"]["pod"] for w in ds.list("WorkloadEndpoint", "default")] == ["first"]
    res.delete(ds, topo, bad)  # deleting it cleans up: no pod, nothing in IPAM
    assert ds.get("Pod", "pinned") is None


def test_unknown_kind_apiversion_and_namespace(lab):
    ds, topo = lab
    with pytest.raises(res.ApplyError, match='no matches for kind "Frobnicator" in version "v1"'):
        res.apply(ds, topo, {"apiVersion": "v1", "kind": "Frobnicator", "metadata": {"name": "x"}})
    with pytest.raises(res.ApplyError, match='no matches for kind "Pod" in version "v2"'):
        res.apply(ds, topo, {**_pod("x"), "apiVersion": "v2"})
    with pytest.raises(res.ApplyError, match="does not emulate StatefulSet"):
        res.apply(ds, topo, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"}})
    with pytest.raises(res.ApplyError, match='namespaces "nope" not found'):
        res.apply(ds, topo, {**_pod("x"), "metadata": {"name": "x", "namespace": "nope"}})
    # a namespace created earlier in the same manifest is there for the pod
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}
    assert res.apply(ds, topo, [ns, {**_pod("x"), "metadata": {"name": "x", "namespace": "demo"}}]) == \
        ["namespace/demo created", "pod/x created"]
    assert ds.get("Namespace", "demo")["metadata"]["labels"] == {"kubernetes.io/metadata.name": "demo"}


def test_unschedulable_pod_stays_pending_without_ip_and_says_why(lab):
    ds, topo = lab
    out = res.apply(ds, topo, _pod("lost", nodeSelector={"disk": "ssd"}))
    assert out[0] == "pod/lost created"
    assert out[1].startswith("Warning: pod/lost is Pending: 0/4 nodes are available")
    pod = ds.get("Pod", "lost")
    assert pod["status"]["phase"] == "Pending" and "podIP" not in pod["status"]
    assert ds.list("WorkloadEndpoint", "default") == []


def test_scheduler_spreads_over_workers_and_respects_node_selector(lab):
    ds, topo = lab
    res.apply(ds, topo, [_pod(f"p{i}") for i in range(3)])
    assert sorted(ds.get("Pod", f"p{i}")["spec"]["nodeName"] for i in range(3)) == ["k8s-w0", "k8s-w1", "k8s-w2"]
    res.apply(ds, topo, _pod("cp", nodeSelector={"kubernetes.io/hostname": "k8s-m"},
                             tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                           "effect": "NoSchedule"}]))
    assert ds.get("Pod", "cp")["spec"]["nodeName"] == "k8s-m"


def test_deleting_a_pod_releases_its_ip_and_keeps_the_block(lab):
    ds, topo = lab
    res.apply(ds, topo, PODS)
    ip = ds.get("Pod", "pod1")["status"]["podIP"]
    assert res.delete(ds, topo, PODS) == ['pod "pod1" deleted', 'pod "pod2" deleted']
    with ds.snapshot() as tx:
        assert ipam.find_allocation(tx, ip) is None
        assert len(ipam.node_blocks(tx, "k8s-w1")) == 1
    assert ds.list("WorkloadEndpoint", "default") == []
    with pytest.raises(res.ApplyError, match='pods "pod1" not found'):
        res.delete(ds, topo, PODS)


# ---------------------------------------------------------------- Calico resources

def _ippool(name, cidr, **spec):
    return {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"cidr": cidr, **spec}}


def test_ippool_validation_uses_calicos_messages(lab):
    ds, topo = lab
    before = ds.revision()
    cases = [
        (_ippool("both", "10.1.0.0/16", ipipMode="Always", vxlanMode="Always"),
         "error with field IPPool.Spec.VXLANMode = 'Always' (Cannot enable both VXLAN and IPIP on the same IPPool)"),
        (_ippool("overlap", "172.16.5.0/24"),
         "IPPool(overlap) CIDR overlaps with IPPool(default-ipv4-ippool) CIDR 172.16.0.0/16"),
        (_ippool("mode", "10.2.0.0/16", ipipMode="Sometimes"),
         "error with field IPIPMode = 'Sometimes' (Reason: allowed values are Always, CrossSubnet, Never)"),
        (_ippool("small", "10.3.0.0/16", blockSize=19), "IPv4 block size must be between 20 and 32"),
        (_ippool("masked", "10.4.0.1/16"), "IPPool CIDR is not strictly masked"),
        (_ippool("garbage", "ten/8"), "IPPool CIDR must be a valid subnet"),
        (_ippool("typo", "10.5.0.0/16", ipipmode="Always"), 'json: unknown field "ipipmode"'),
    ]
    for obj, message in cases:
        with pytest.raises(res.ApplyError) as e:
            res.apply(ds, topo, obj)
        assert message in e.value.reason
    assert ds.revision() == before


def test_ippool_cidr_and_block_size_are_immutable_and_new_pool_defaults(lab):
    ds, topo = lab
    assert res.apply(ds, topo, _ippool("extra", "10.10.0.0/16")) == ["ippool.projectcalico.org/extra created"]
    assert ds.get("IPPool", "extra")["spec"] == {"allowedUses": ["Workload", "Tunnel"], "blockSize": 26,
                                                 "cidr": "10.10.0.0/16", "ipipMode": "Never",
                                                 "nodeSelector": "all()", "vxlanMode": "Never"}
    with pytest.raises(res.ApplyError, match="IPPool CIDR cannot be modified"):
        res.apply(ds, topo, _ippool("extra", "10.11.0.0/16"))
    with pytest.raises(res.ApplyError, match="IPPool BlockSize cannot be modified"):
        res.apply(ds, topo, _ippool("extra", "10.10.0.0/16", blockSize=24))


def test_deleting_a_pool_in_use_is_refused_and_an_unused_one_goes(lab):
    ds, topo = lab
    res.apply(ds, topo, PODS)
    with pytest.raises(res.ApplyError, match="still has 9 IP address"):
        res.delete(ds, topo, _ippool("default-ipv4-ippool", "172.16.0.0/16"))
    res.apply(ds, topo, _ippool("extra", "10.10.0.0/16"))
    assert res.delete(ds, topo, _ippool("extra", "10.10.0.0/16")) == ['ippool.projectcalico.org "extra" deleted']
    # the migration recipe: disable (tunnel addresses leave), remove the pods, delete
    res.patch(ds, topo, "IPPool", "default-ipv4-ippool", {"spec": {"disabled": True}})
    assert "projectcalico.org/IPv4IPIPTunnelAddr" not in ds.get("Node", "k8s-m")["metadata"]["annotations"]
    res.delete(ds, topo, PODS)
    for pod in ds.list("Pod", "kube-system"):  # coredns and calico-kube-controllers hold pool IPs too
        if "hostNetwork" not in pod["spec"]:
            res.delete_object(ds, topo, "Pod", pod["metadata"]["name"], "kube-system")
    res.delete_object(ds, topo, "IPPool", "default-ipv4-ippool")
    assert ds.list("IPPool") == [] and ds.list("IPAMBlock") == [] and ds.list("BlockAffinity") == []


def test_patch_and_resource_version_conflict(lab):
    ds, topo = lab
    change = res.patch(ds, topo, "IPPool", "default-ipv4-ippool", {"spec": {"ipipMode": "CrossSubnet"}})
    assert change.verb == "patched"
    assert ds.get("IPPool", "default-ipv4-ippool")["spec"]["ipipMode"] == "CrossSubnet"
    stale = ds.get("IPPool", "default-ipv4-ippool")
    res.patch(ds, topo, "IPPool", "default-ipv4-ippool", {"spec": {"natOutgoing": False}})
    with pytest.raises(res.ApplyError, match="update conflict: IPPool"):
        res.apply(ds, topo, stale)
    assert "natOutgoing" not in ds.get("IPPool", "default-ipv4-ippool")["spec"]


def test_nodes_are_never_deleted(lab):
    ds, topo = lab
    with pytest.raises(res.ApplyError, match="cannot be deleted"):
        res.delete_object(ds, topo, "Node", "k8s-w1")
    assert ds.get("Node", "k8s-w1") is not None


# ---------------------------------------------------------------- node_view

def test_node_view_for_the_dataplane(lab):
    ds, topo = lab
    res.apply(ds, topo, PODS)
    res.apply(ds, topo, [
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "bgppeer-rtr"},
         "spec": {"peerIP": "192.168.10.254", "asNumber": 64512}},
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "w1-only"},
         "spec": {"node": "k8s-w1", "peerIP": "10.1.1.254:1179", "asNumber": 65001}},
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "rack"},
         "spec": {"nodeSelector": "rack == 'rack1' || has(edge)", "peerIP": "10.1.2.254", "asNumber": "65002"}},
    ])
    res.set_labels(ds, topo, "Node", "k8s-w1", {"rack": "rack1"})
    v = res.node_view(ds, "k8s-w1", topo)
    assert (v.ip, str(v.network), v.nic, v.as_number, v.mesh_enabled) == \
        ("192.168.10.101", "192.168.10.0/24", "enp0s8", 64512, True)
    block = ipam.block_of(ds.get("Pod", "pod1")["status"]["podIP"], 24)
    assert v.blocks == [block] and v.ipip_tunnel_addr == block.split("/")[0]
    assert [(p["name"], p["interface"], [q["containerPort"] for q in p["ports"]]) for p in v.pods
            if p["namespace"] == "default"] == \
        [("pod1", "calice0906292e2", [80, 8080])]
    assert {n.name for n in v.nodes} == {"k8s-m", "k8s-w2", "k8s-w0"}
    # the pool's modes keep IPPool's values, and the policy renderer can still read the view by key
    assert v.pools[0].ipip_mode == "Always" and v.pools[0].nat_outgoing is True and v["pods"] is v.pods
    names = [p.protocol_name for p in v.bgp_peers]
    assert names == ["Mesh_192_168_10_10", "Mesh_192_168_20_100", "Mesh_192_168_10_102",
                     "Global_192_168_10_254", "Node_10_1_2_254", "Node_10_1_1_254_port_1179"]
    assert {p.peer_ip: p.as_number for p in v.bgp_peers}["10.1.2.254"] == 65002
    # k8s-w2 gets the global peer only; a BGPConfiguration turns the mesh off and sets the AS
    res.apply(ds, topo, {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration",
                         "metadata": {"name": "default"},
                         "spec": {"nodeToNodeMeshEnabled": False, "asNumber": 64513}})
    res.patch(ds, topo, "CalicoNode", "k8s-w2", {"spec": {"bgp": {"asNumber": 65100}}})
    w2 = res.node_view(ds, "k8s-w2")
    assert w2.mesh_enabled is False and w2.as_number == 65100
    assert [p.protocol_name for p in w2.bgp_peers] == ["Global_192_168_10_254"]
    assert res.node_view(ds, "k8s-w0").as_number == 64513


def test_node_view_shows_borrowed_ips_on_both_sides(lab):
    ds, topo = lab
    w1_block = next(b["spec"]["cidr"] for b in ds.list("IPAMBlock") if ipam.block_owner(b) == "k8s-w1")
    ip = w1_block.replace(".0/24", ".9")
    pinned = _pod("pinned", nodeName="k8s-w2")
    pinned["metadata"]["annotations"] = {"cni.projectcalico.org/ipAddrs": f'["{ip}"]'}
    res.apply(ds, topo, pinned)
    assert res.node_view(ds, "k8s-w2").borrowed_ips == [f"{ip}/32"]
    assert res.node_view(ds, "k8s-w1").lent_ips == [{"ip": f"{ip}/32", "node": "k8s-w2"}]
    assert res.node_view(ds, "k8s-m").remote_borrowed == {f"{ip}/32": "k8s-w2"}


# ---------------------------------------------------------------- selectors

@pytest.mark.parametrize("expr,labels,expected", [
    ("all()", {}, True),
    ("", {"a": "b"}, True),
    ("rack == 'rack1'", {"rack": "rack1"}, True),
    ('rack == "rack1"', {"rack": "rack2"}, False),
    ("rack != 'rack1'", {}, True),
    ("has(edge)", {"edge": ""}, True),
    ("!has(edge)", {"edge": ""}, False),
    ("zone in {'a', 'b'}", {"zone": "b"}, True),
    ("zone not in {'a', 'b'}", {}, True),
    ("zone in {'a'}", {}, False),
    ("(a == 'x' || b == 'y') && !has(c)", {"b": "y"}, True),
    ("(a == 'x' || b == 'y') && !has(c)", {"b": "y", "c": "1"}, False),
    ("kubernetes.io/hostname == 'k8s-w1'", {"kubernetes.io/hostname": "k8s-w1"}, True),
    ("name starts with 'k8s' && name ends with 'w1' && name contains '-'", {"name": "k8s-w1"}, True),
])
def test_calico_selector(expr, labels, expected):
    assert res.calico_selector(expr)(labels) is expected


@pytest.mark.parametrize("expr", ["rack == rack1", "has(", "a == 'x' &&", "a === 'x'", "(a == 'x'"])
def test_calico_selector_syntax_errors_are_clear(expr):
    with pytest.raises(InvalidInput, match="invalid selector"):
        res.calico_selector(expr)
